// Portals: specs, documents and the operations on them.

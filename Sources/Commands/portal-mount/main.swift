import RemoteCommands

PortalMount.main()

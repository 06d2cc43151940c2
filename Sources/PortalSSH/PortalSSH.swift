// SSH over libssh2, in process: sessions, commands, and mounting volumes.

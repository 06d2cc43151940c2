import RemoteCommands

PortalSyncCommand.main()

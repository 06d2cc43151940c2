import PlumbingCommands

PortalSpecCommand.main()

import PlumbingCommands

PortalSign.main()

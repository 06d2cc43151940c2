import PlumbingCommands

PortalEC2.main()

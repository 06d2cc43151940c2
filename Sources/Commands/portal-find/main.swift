import PlumbingCommands

PortalFind.main()

import PlumbingCommands

PortalSpotRequest.main()

import PlumbingCommands

PortalSpotCancel.main()

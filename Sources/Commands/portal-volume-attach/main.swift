import PlumbingCommands

PortalVolumeAttach.main()

import PlumbingCommands
import PorcelainCommands
import PortalBase
import RemoteCommands

// The whole toolkit in one binary, as git has its builtins: bin/install puts
// it in PREFIX/bin as `portal`, and every plumbing name beside it as a link to
// it. What it runs is the name it was called by (argv[0]): each name keeps
// its own --help, man page and exit statuses, and the Swift runtime and the
// libraries are on disk once instead of ten times. Any other name is portal.
switch programName {
case "portal-spec": PortalSpecCommand.main()
case "portal-sign": PortalSign.main()
case "portal-ec2": PortalEC2.main()
case "portal-find": PortalFind.main()
case "portal-spot-request": PortalSpotRequest.main()
case "portal-volume-attach": PortalVolumeAttach.main()
case "portal-mount": PortalMount.main()
case "portal-sync": PortalSyncCommand.main()
case "portal-spot-cancel": PortalSpotCancel.main()
default: Portal.start()
}

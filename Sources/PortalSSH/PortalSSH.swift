// SSH over libssh2, in process, for the remote side of a portal:
//
//   SSHSession        one connection: connect (waiting for sshd), handshake,
//                     authenticate, run commands; counters for -v and bin/bench
//   checkHostKey      Portal Gun's known_hosts (KnownHosts), keyed by instance id,
//                     first contact checked against the console (ConsoleHostKeys)
//   SSHTarget         which address, port, user and key a portal document means;
//                     sshArguments for handing the terminal to OpenSSH
//   mountVolumes      one remote script per volume (MountScript): find, format
//                     only if blank, mount, grow; the document's "mounts"
//   provision         python packages and setup_commands; "provisioned"

// Channels: folders kept in sync between the laptop and a portal's instance,
// rsync over one multiplexed OpenSSH connection.
//
//   SyncSession       starts a session: local tools, host key, the master
//                     connection and the remote check; one runner per channel
//   SSHTransport      the private control directory, the ssh wrapper rsync
//                     runs (-e), the remote check, closing the master
//   OutboundRunner    inotify (Inotify, WatchTree) → coalesced bursts
//                     (Coalescer) → rsync --files-from of what changed
//   InboundRunner     a remote inotifywait stream over the same connection,
//                     else a poll every `delay` seconds
//   RsyncPlan         the trailing-slash rule and every rsync argument
//   SyncEvent         the JSON lines of portal-sync's stdout
//   (Child, in PortalBase: posix_spawn with a clean signal mask, in its own
//   group, and no AWS keys in its environment)

/// The watcher on a portal's instance: a POSIX sh script (curl, coreutils,
/// util-linux: all on Ubuntu's AMIs) that runs as root, detached from any SSH
/// session, and every `interval` seconds
///
/// - reads IMDSv2 (a token, then `spot/instance-action` and
///   `events/recommendations/rebalance`); on a notice it has not handled yet
///   it records the notice as handled *first* (so it never runs the hook
///   twice for one notice, even if restarted mid-hook), appends the event to
///   `events.jsonl`, warns open sessions (wall), runs the hook as the remote
///   user within its time budget, `sync`s, and appends `hook-done`;
/// - at the deadline in the file `deadline` (epoch seconds; `portal extend`
///   rewrites it) runs the hook, syncs and shuts the instance down;
/// - after `idle_seconds` with no SSH session, no `run` session and no GPU
///   activity (where `nvidia-smi` exists), syncs and shuts the instance down;
///   both warn open sessions before (`warn_seconds`, at most half the span).
///
/// The laptop side (`portal watch`) reads `events.jsonl`: one JSON object a
/// line, `{"event": …, "at": epoch, …}`. Settings come from `watcher.conf`
/// (shell assignments written by `WatcherInstall`), read again every round,
/// so a reinstall or `portal extend` takes effect without a restart. The
/// state folder and the IMDS address can be moved (`PORTAL_GUN_STATE`,
/// `PORTAL_IMDS`) for tests on this machine.
enum WatcherScript {
    static let text = #"""
        #!/bin/sh
        # portal-gun-watcher: installed by Portal Gun (portal open, portal watch).
        set -u
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        export PATH
        state=${PORTAL_GUN_STATE:-/var/lib/portal-gun}
        imds=${PORTAL_IMDS:-http://169.254.169.254}
        nl='
        '
        interval=2 hook_seconds=60 idle_seconds=0 warn_seconds=300 user= session=portal-run
        shutdown_command='shutdown -h now' wall_command=wall sessions='^sshd(-session)?: [^ ]+@'
        token= token_at=0 idle_since= stopping=
        mkdir -p "$state"
        echo $$ >"$state/watcher.pid"
        touch "$state/handled" "$state/events.jsonl"

        now() { date +%s; }
        clean() { printf '%s' "$1" | tr -cd 'A-Za-z0-9:._+-'; }
        event() { printf '{"event":"%s","at":%s%s}\n' "$1" "$(now)" "${2:-}" >>"$state/events.jsonl"; }
        handled() { grep -qxF "$1" "$state/handled"; }
        warn() { $wall_command "Portal Gun: $1" >/dev/null 2>&1 || true; }
        as_user() {
          if [ "$(id -u)" = 0 ] && [ -n "$user" ] && [ "$user" != root ]; then
            runuser -u "$user" -- "$@"
          else
            "$@"
          fi
        }

        # IMDSv2: prints the body of a 200; status 1 for 404, 2 for anything else.
        imds_get() {
          if [ -z "$token" ] || [ $(($(now) - token_at)) -ge 20000 ]; then
            token=$(curl -sf -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "$imds/latest/api/token") || token=
            token_at=$(now)
            [ -n "$token" ] || return 2
          fi
          out=$(curl -s -m 2 -w "$nl%{http_code}" -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1") || return 2
          code=${out##*"$nl"}
          case $code in
          200) printf '%s' "${out%"$nl"*}" ;;
          401) token= ; return 2 ;;
          404) return 1 ;;
          *) return 2 ;;
          esac
        }

        run_hook() {
          if [ ! -s "$state/hook.sh" ]; then
            event hook-done ',"status":0,"seconds":0,"commands":0'
            return
          fi
          start=$(now)
          as_user timeout -k 5 "$hook_seconds" sh "$state/hook.sh" >>"$state/hook.log" 2>&1
          status=$?
          sync
          event hook-done ",\"status\":$status,\"seconds\":$(($(now) - start)),\"timed_out\":$([ $status = 124 ] && echo true || echo false)"
        }

        notice() { # kind, key, extra JSON members, message
          handled "$2" && return
          printf '%s\n' "$2" >>"$state/handled"
          sync
          event "$1" "$3"
          warn "$4"
          run_hook
        }

        stop_instance() { # reason, message
          stopping=1
          event "$1" ''
          warn "$2"
          sync
          event shutdown ''
          sync
          $shutdown_command >>"$state/watcher.log" 2>&1 || event shutdown-failed ",\"command\":\"$(clean "$shutdown_command")\""
        }

        check_notices() {
          if body=$(imds_get spot/instance-action); then
            action=$(clean "$(printf '%s' "$body" | sed -n 's/.*"action" *: *"\([^"]*\)".*/\1/p')")
            time=$(clean "$(printf '%s' "$body" | sed -n 's/.*"time" *: *"\([^"]*\)".*/\1/p')")
            notice interruption "interruption $action $time" ",\"action\":\"$action\",\"time\":\"$time\"" \
              "spot interruption notice: AWS will $action this instance at $time"
          fi
          if body=$(imds_get events/recommendations/rebalance); then
            time=$(clean "$(printf '%s' "$body" | sed -n 's/.*"noticeTime" *: *"\([^"]*\)".*/\1/p')")
            notice rebalance "rebalance $time" ",\"time\":\"$time\"" \
              "rebalance recommendation: this Spot Instance is at elevated risk of interruption"
          fi
        }

        lead() { # the warning lead for a span of $1 seconds: warn_seconds, at most half the span
          if [ "$warn_seconds" -gt $(($1 / 2)) ]; then echo $(($1 / 2)); else echo "$warn_seconds"; fi
        }

        check_deadline() {
          [ -s "$state/deadline" ] || return
          read -r deadline set_at <"$state/deadline" || true
          deadline=$(clean "$deadline"); set_at=$(clean "${set_at:-0}")
          case $deadline in '' | *[!0-9]*) return ;; esac
          case $set_at in '' | *[!0-9]*) set_at=0 ;; esac
          left=$((deadline - $(now)))
          if [ "$left" -le 0 ]; then
            handled "deadline $deadline" || {
              printf '%s\n' "deadline $deadline" >>"$state/handled"
              event deadline-notice ",\"deadline\":$deadline"
              run_hook
            }
            stop_instance deadline "the portal's deadline has passed: this instance terminates now"
          elif [ "$left" -le "$(lead $((deadline - set_at)))" ] && ! handled "deadline-warning $deadline"; then
            printf '%s\n' "deadline-warning $deadline" >>"$state/handled"
            event deadline-warning ",\"deadline\":$deadline"
            warn "this instance terminates itself in $left s (the portal's deadline); 'portal extend NAME 1h' moves it"
          fi
        }

        busy() {
          ps -eo args= 2>/dev/null | grep -Eq "$sessions" && return 0
          as_user tmux has-session -t "=$session" 2>/dev/null && return 0
          if command -v nvidia-smi >/dev/null 2>&1; then
            nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits 2>/dev/null |
              awk '$1 + 0 > 0 { found = 1 } END { exit !found }' && return 0
          fi
          return 1
        }

        check_idle() {
          case $idle_seconds in '' | 0 | *[!0-9]*) idle_since= ; return ;; esac
          if busy; then
            idle_since=
            return
          fi
          t=$(now)
          if [ -z "$idle_since" ]; then
            idle_since=$t
            event idle-start ",\"idle_seconds\":$idle_seconds"
          fi
          idle=$((t - idle_since))
          if [ "$idle" -ge "$idle_seconds" ]; then
            stop_instance idle-stop "idle for $idle s: this instance terminates now"
          elif [ $((idle_seconds - idle)) -le "$(lead "$idle_seconds")" ] && ! handled "idle-warning $idle_since"; then
            printf '%s\n' "idle-warning $idle_since" >>"$state/handled"
            event idle-warning ",\"left\":$((idle_seconds - idle))"
            warn "idle: this instance terminates itself in $((idle_seconds - idle)) s unless something runs"
          fi
        }

        event watcher-start ",\"pid\":$$"
        while :; do
          [ -r "$state/watcher.conf" ] && . "$state/watcher.conf"
          check_notices
          if [ -z "$stopping" ]; then
            check_deadline
            [ -n "$stopping" ] || check_idle
          fi
          sleep "$interval"
        done
        """#
}

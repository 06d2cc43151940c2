/// The remote side of mounting one volume: a POSIX sh script that runs as
/// root on the instance. Its text is constant; every value (volume id,
/// device, mount point, owner, group) reaches it as a positional argument,
/// quoted once by `Shell.join`, so nothing a spec holds is ever parsed as shell.
///
/// It finds the device as the EBS CSI driver does (the NVMe by-id link of the
/// volume id, confirmed by the NVMe serial when the device has one; else any
/// NVMe device with that serial; else the requested name and its sd/xvd twin),
/// waiting a bounded time for it; formats it ext4 only when `blkid -p` finds
/// nothing on it at all; mounts it (already mounted there is fine, anything
/// else there is an error); chowns a fresh file system's root to the remote
/// user; and grows an ext file system smaller than its device. It answers on
/// stdout with `key=value` lines, or `error=…` and exit 3 (exit 4: the device
/// never appeared).
enum MountScript {
    static let text = #"""
        set -u
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        export PATH
        # portal-mount holds stdin open while it waits: when it goes away
        # (Ctrl-C, a lost connection) stdin ends, and the script stops with
        # everything it started, its lock released.
        # (Through fd 3: an asynchronous list's own stdin is /dev/null.)
        exec 3<&0
        ( cat <&3 >/dev/null 2>&1; kill -TERM 0 2>/dev/null ) &
        watcher=$!
        exec 3<&-
        trap 'kill "$watcher" 2>/dev/null' EXIT
        vol=$1 requested=$2 mp=$3 owner=$4 group=$5 wait=$6
        # A relative mount point is in the remote user's home ($7, given before sudo).
        case $mp in
        /*) ;;
        *) [ -n "${7:-}" ] || { printf 'error=%s\n' "no home folder to resolve $mp in"; exit 3; }; mp=${7%/}/$mp ;;
        esac
        oneline() { printf '%s' "$*" | tr '\n' ';' | sed 's/;/; /g'; }
        fail() { printf 'error=%s\n' "$(oneline "$*")"; exit 3; }
        warn() { printf 'warning=%s\n' "$(oneline "$*")"; }
        case $vol in
        vol-*[!0-9a-f]* | vol-) fail "not a volume id: $vol" ;;
        vol-*) ;;
        *) fail "not a volume id: $vol" ;;
        esac
        serial=vol${vol#vol-}
        byid=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$serial
        case $requested in
        /dev/sd*) twin=/dev/xvd${requested#/dev/sd} ;;
        /dev/xvd*) twin=/dev/sd${requested#/dev/xvd} ;;
        *) twin= ;;
        esac
        serial_of() {
          f=/sys/class/block/${1##*/}/device/serial
          if [ -r "$f" ]; then tr -d ' \n' <"$f"; fi
        }
        check_serial() {
          s=$(serial_of "$dev")
          case $s in
          vol*) [ "$s" = "$serial" ] || fail "$1 leads to $dev, which is volume $s, not $vol"; how=$2-serial ;;
          *) how=$2 ;;
          esac
        }
        find_device() {
          if [ -e "$byid" ]; then
            dev=$(readlink -f -- "$byid")
            check_serial "$byid" nvme-by-id
            return 0
          fi
          for f in /sys/class/block/nvme*n*/device/serial; do
            [ -r "$f" ] || continue
            if [ "$(tr -d ' \n' <"$f")" = "$serial" ]; then
              d=${f%/device/serial}
              dev=/dev/${d##*/}
              how=nvme-serial
              return 0
            fi
          done
          for d in "$requested" "$twin"; do
            if [ -n "$d" ] && [ -b "$d" ]; then
              dev=$(readlink -f -- "$d")
              check_serial "$d" name
              return 0
            fi
          done
          return 1
        }
        tries=$((wait * 5))
        until find_device; do
          if [ "$tries" -le 0 ]; then
            printf 'error=%s\n' "no device for $vol after $wait s: looked for $byid, an NVMe device with serial $serial, and $requested${twin:+ or $twin}"
            exit 4
          fi
          tries=$((tries - 1))
          sleep 0.2 2>/dev/null || sleep 1
        done
        [ -b "$dev" ] || fail "$dev (found for $vol) is not a block device"
        # One portal-mount at a time per volume: two at once must not both find it blank.
        if command -v flock >/dev/null 2>&1 && [ -d /run/lock ] && [ -w /run/lock ]; then
          exec 9>>"/run/lock/portal-mount.$serial.lock"
          flock -w 300 9 || fail "another portal-mount has held /run/lock/portal-mount.$serial.lock for 300 s"
        fi

        probe=$(blkid -p -o export "$dev" 2>&1)
        rc=$?
        fstype= usage= formatted=0
        case $rc in
        0)
          fstype=$(printf '%s\n' "$probe" | sed -n 's/^TYPE=//p')
          usage=$(printf '%s\n' "$probe" | sed -n 's/^USAGE=//p')
          pttype=$(printf '%s\n' "$probe" | sed -n 's/^PTTYPE=//p')
          [ -n "$fstype" ] || fail "$dev ($vol) holds a partition table (${pttype:-unknown}), not a file system: not formatting it, not mounting it"
          [ "$usage" = filesystem ] || fail "$dev ($vol) holds $fstype (${usage:-unknown use}), not a file system: not formatting it, not mounting it"
          ;;
        2)
          out=$(mkfs.ext4 -q -E nodiscard "$dev" </dev/null 2>&1) || fail "mkfs.ext4 $dev failed: $out"
          fstype=ext4 formatted=1
          ;;
        *)
          fail "cannot tell whether $dev ($vol) holds a file system (blkid -p: exit $rc): $probe; not formatting it"
          ;;
        esac

        mkdir -p -- "$mp" || fail "cannot create the mount point $mp"
        real=$(readlink -f -- "$mp")
        current=$(findmnt -n -o SOURCE --mountpoint "$real" 2>/dev/null | tail -n 1)
        already=0
        if [ -n "$current" ]; then
          if [ "$(readlink -f -- "$current" 2>/dev/null)" = "$dev" ]; then
            already=1
          else
            fail "$mp already has $current mounted on it, not $dev ($vol)"
          fi
        else
          other=$(findmnt -n -o TARGET --source "$dev" 2>/dev/null | head -n 1)
          [ -z "$other" ] || fail "$dev ($vol) is already mounted on $other, not on $mp"
          out=$(mount -- "$dev" "$mp" 2>&1) || fail "mount $dev on $mp failed: $out"
        fi
        if [ "$formatted" = 1 ]; then
          out=$(chown -- "$owner:$group" "$mp" 2>&1) || fail "chown $owner:$group $mp failed: $out"
        fi

        devbytes=$(blockdev --getsize64 "$dev" 2>/dev/null) || devbytes=0
        fsbytes() {
          case $fstype in
          ext2|ext3|ext4) dumpe2fs -h "$dev" 2>/dev/null | awk -F: '/^Block count:/ {c=$2} /^Block size:/ {s=$2} END {printf "%.0f\n", c*s}' ;;
          *) df -P -B1 -- "$mp" 2>/dev/null | awk 'NR==2 {print $2}' ;;
          esac
        }
        before=$(fsbytes)
        grown=0
        case $fstype in
        ext2|ext3|ext4)
          if [ "${before:-0}" -gt 0 ] && [ "$devbytes" -gt $((before + 1048576)) ]; then
            if ! out=$(resize2fs "$dev" 2>&1); then
              # Growing it mounted was refused (no CAP_SYS_RESOURCE, as in a
              # container): grow it unmounted, if this run mounted it.
              if [ "$already" = 1 ]; then
                warn "$dev is larger than its file system, but resize2fs failed, and it was mounted on $mp before this: not unmounting it to grow it: $out"
              else
                umount -- "$mp" || fail "resize2fs $dev failed mounted ($out), and umount $mp failed"
                check=$(e2fsck -f -p "$dev" 2>&1)
                rc=$?
                if [ "$rc" -gt 1 ]; then
                  mount -- "$dev" "$mp"
                  fail "e2fsck -f -p $dev (before growing it) failed with exit status $rc: $check"
                fi
                grow=$(resize2fs "$dev" 2>&1)
                rc=$?
                out=$(mount -- "$dev" "$mp" 2>&1) || fail "mount $dev on $mp (after growing it) failed: $out"
                [ "$rc" = 0 ] || fail "resize2fs $dev failed: $grow"
              fi
            fi
            after=$(fsbytes)
            [ "${after:-0}" -gt "$before" ] && grown=1
            before=$after
          fi
          ;;
        esac
        printf 'mount_point=%s\n' "$mp"
        printf 'device=%s\nfound_by=%s\nfilesystem=%s\nformatted=%s\nalready_mounted=%s\ngrown=%s\nsize_bytes=%s\nfilesystem_bytes=%s\n' \
          "$dev" "$how" "$fstype" "$formatted" "$already" "$grown" "$devbytes" "${before:-0}"
        """#

    /// The command line for the remote user's shell: `sh -c WRAPPER portal-mount SCRIPT ARGS…`,
    /// where the wrapper runs the script directly as root, or through `sudo -n` otherwise.
    static func command(arguments: [String]) -> String {
        let wrapper = #"s=$1; shift; if [ "$(id -u)" -eq 0 ]; then exec sh -c "$s" portal-mount "$@" "$HOME"; else exec sudo -n sh -c "$s" portal-mount "$@" "$HOME"; fi"#
        return Shell.join(["sh", "-c", wrapper, "portal-mount", text] + arguments)
    }

    /// The script's error (`error=…`, one line).
    static func errorMessage(_ output: String) -> String? { parse(output)["error"] }

    /// Reads the script's `key=value` answer.
    static func parse(_ output: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }
}

import Foundation

/// The shell commands that collect a remote Linux machine's metrics over one SSH command, and the
/// format of what they print. Run the script, hand its standard output to `RemoteHostSampler`.
///
/// ```swift
/// let sampler = RemoteHostSampler()
/// let output = try await ssh.run(RemoteCollection.sampleCommand)
/// let sample = try await sampler.sample(fromOutput: output)
/// ```
///
/// The scripts are POSIX `sh` (dash, busybox ash, bash): they need `cat` and `stat -f` (GNU coreutils
/// or busybox), use `timeout` when it works, and run `nvidia-smi` only when it is installed. They read
/// the same files as `HostSampler`, so the remote sample is computed by the same code.
///
/// What they print is a stream of sections. The first line is `@@nebula:begin:<nonce> <script> 1`,
/// where the nonce is a fresh random UUID; every section then starts on its own line with
/// `@@nebula:<nonce>:<kind> [argument]`, and the stream ends with `@@nebula:<nonce>:end`. A file's
/// content cannot fake a marker because it cannot know the nonce. Each marker line is preceded by
/// a newline that is not part of the previous section, so contents come back byte for byte.
///
/// | kind | content |
/// |---|---|
/// | `file /proc/stat` | the file's text |
/// | `unreadable /proc/diskstats` | why it could not be read |
/// | `procs` | every `/proc/[pid]/stat`, one line each |
/// | `values` | one-line files as `path<TAB>value`; a path alone when it exists but cannot be read |
/// | `statfs` | per real mount: `status mountpoint blocksize blocks free available` (mount point escaped as in the mount table) |
/// | `output nvidia-smi` then `exit nvidia-smi <status>` | a command's output and exit status |
/// | `output pagesize`, `output uname` | `KernelPageSize` of the shell, `uname -nrm` |
///
/// Setting `NEBULA_HOST_ROOT` on the remote side reads `/proc`, `/sys` and `/etc` under that
/// directory instead (a host bind-mounted into a container; a fixture tree in tests).
public enum RemoteCollection {
    /// Collects everything one `HostSample` needs. Prints about 200 bytes per process plus a few KB,
    /// and takes a few milliseconds, plus up to `statfsTimeoutSeconds` per unresponsive mount and up to
    /// `nvidiaSMITimeoutSeconds` for a wedged `nvidia-smi` (when `timeout` exists).
    public static let sampleScript: String = prelude(script: "sample") + #"""
    f /proc/uptime
    f /proc/stat
    f /proc/loadavg
    f /proc/meminfo
    f /proc/diskstats
    f /proc/net/dev
    mt=/proc/self/mounts
    [ -z "$R" ] || [ ! -r "$R/proc/1/mounts" ] || mt=/proc/1/mounts
    [ -r "$R$mt" ] || mt=/proc/mounts
    f "$mt"
    m procs
    (cd "$R/proc" 2>/dev/null && exec cat [0-9]*/stat 2>/dev/null)
    m values
    for c in "$R"/sys/class/hwmon/*; do
      [ -d "$c" ] || continue
      c=${c#"$R"}
      v "$c/name"
      t "$c"
      for j in "$R$c"/device/temp*_input; do
        [ -e "$j" ] || continue
        v "$c/device/name"; t "$c/device"; break
      done
    done
    for z in "$R"/sys/class/thermal/thermal_zone*; do
      [ -d "$z" ] || continue
      z=${z#"$R"}
      v "$z/type"; v "$z/temp"
    done
    m statfs
    seen=' '
    if [ -r "$R$mt" ]; then
      while read -r d p y o; do
        case " $pseudo " in *" $y "*) continue ;; esac
        case "$seen" in *" $d "*) continue ;; esac
        seen="$seen$d "
        q=$p
        case $p in *\\*) q=$(printf '%b.' "$p"); q=${q%.} ;; esac
        if [ -n "$to" ]; then
          r=$(timeout -s KILL \#(statfsTimeoutSeconds) stat -f -c '%S %b %f %a' "$R$q" 2>/dev/null); s=$?
        else
          r=$(stat -f -c '%S %b %f %a' "$R$q" 2>/dev/null); s=$?
        fi
        printf '%s %s %s\n' "$s" "$p" "$r"
      done < "$R$mt"
    fi
    m output pagesize
    { while read -r k s u; do [ "$k" = KernelPageSize: ] && { echo "$s $u"; break; }; done < /proc/self/smaps; } 2>/dev/null
    g
    m end

    """#

    /// Collects what `HardwareProfile` needs: `/proc/cpuinfo`, `/proc/meminfo`, os-release, host name,
    /// kernel release, `uname -nrm`, the disks of `/sys/block` and the GPUs. Run once per connection.
    public static let hardwareScript: String = prelude(script: "hardware") + #"""
    f /proc/cpuinfo
    f /proc/meminfo
    f /proc/stat
    if [ -r "$R/etc/os-release" ]; then f /etc/os-release; else f /usr/lib/os-release; fi
    m values
    v /proc/sys/kernel/hostname
    v /proc/sys/kernel/osrelease
    for b in "$R"/sys/block/*; do
      [ -d "$b" ] || continue
      b=${b#"$R"}
      v "$b/size"; v "$b/queue/rotational"; v "$b/device/model"
    done
    m output uname
    uname -nrm 2>/dev/null
    g
    m end

    """#

    /// `sampleScript` as one command line for an SSH exec request: `sh -c '<script>'`. The remote
    /// login shell (bash, zsh, dash, fish) starts it; the script then runs in `sh` whatever that shell is.
    public static let sampleCommand = "sh -c " + shellQuoted(sampleScript)
    /// `hardwareScript` as one command line for an SSH exec request (see `sampleCommand`).
    public static let hardwareCommand = "sh -c " + shellQuoted(hardwareScript)

    /// How long `stat -f` on one mount point may take (when `timeout` exists), as `HostSampler`'s default.
    public static let statfsTimeoutSeconds = 2
    /// How long `nvidia-smi` may take (when `timeout` exists), as `GPUProbe`'s default.
    public static let nvidiaSMITimeoutSeconds = 5
    /// The output format the scripts print and `RemoteHostSampler` reads.
    static let formatVersion = 1
    /// Outputs larger than this are refused rather than parsed (a normal one is well under 1 MB).
    public static let maximumOutputBytes = 16 * 1024 * 1024

    /// The functions both scripts use, and the begin line.
    /// - `m KIND [ARG]` prints a section marker; `f PATH` a file section (or `unreadable`);
    /// - `v PATH` a `values` line; `t DIR` the `temp*_input`/`temp*_label` values of a hwmon directory;
    /// - `g` the `nvidia-smi` sections when it is installed.
    private static func prelude(script: String) -> String {
        let pseudo = MountEntry.pseudoFilesystemTypes.sorted().joined(separator: " ")
        let nvidiaSMI = (["nvidia-smi"] + GPUInfo.nvidiaSMIArguments).map(shellQuoted).joined(separator: " ")
        return #"""
        # Nebula Command: \#(script) collection for RemoteHostSampler (format \#(formatVersion)). POSIX sh.
        LC_ALL=C; export LC_ALL
        R=${NEBULA_HOST_ROOT:-}; R=${R%/}
        n=
        { read -r n < /proc/sys/kernel/random/uuid; } 2>/dev/null
        [ -n "$n" ] || n="pid$$"
        pseudo='\#(pseudo)'
        m() { printf '\n@@nebula:%s:%s\n' "$n" "$*"; }
        f() {
          if [ -r "$R$1" ]; then
            m file "$1"
            cat "$R$1" 2>/dev/null || { m unreadable "$1"; echo "read error"; }
          elif [ -e "$R$1" ]; then
            m unreadable "$1"; echo "Permission denied"
          else
            m unreadable "$1"; echo "No such file or directory"
          fi
        }
        v() {
          [ -e "$R$1" ] || return 0
          x=
          if IFS= read -r x 2>/dev/null < "$R$1" || [ -n "$x" ]; then
            printf '%s\t%s\n' "$1" "$x"
          else
            printf '%s\n' "$1"
          fi
        }
        t() {
          for i in "$R$1"/temp*_input; do
            [ -e "$i" ] || continue
            i=${i#"$R"}
            v "$i"; v "${i%_input}_label"
          done
        }
        to=
        if command -v timeout >/dev/null 2>&1 && timeout -s KILL 1 true 2>/dev/null; then to=1; fi
        g() {
          command -v nvidia-smi >/dev/null 2>&1 || return 0
          m output nvidia-smi
          if [ -n "$to" ]; then
            timeout -s KILL \#(nvidiaSMITimeoutSeconds) \#(nvidiaSMI) 2>&1
          else
            \#(nvidiaSMI) 2>&1
          fi
          m exit nvidia-smi "$?"
        }
        printf '\n@@nebula:begin:%s %s %s\n' "$n" \#(script) \#(formatVersion)

        """#
    }

    /// `text` in single quotes for `sh`.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}

import Foundation

// The Engine API's JSON, decoded leniently (optional wherever Docker omits or nulls a field) and
// turned into the public models. Field names are Docker's.

struct WireMessage: Decodable {
    var message: String?
}

struct WireVersion: Decodable {
    var Version: String?
    var ApiVersion: String
    var MinAPIVersion: String?
    var Os: String?
    var Arch: String?
    var KernelVersion: String?
    var GoVersion: String?
}

struct WirePort: Decodable {
    var IP: String?
    var PrivatePort: Int
    var PublicPort: Int?
    var `Type`: String?
}

struct WireContainer: Decodable {
    var Id: String
    var Names: [String]?
    var Image: String?
    var ImageID: String?
    var Command: String?
    var Created: Int64?
    var Ports: [WirePort]?
    var Labels: [String: String]?
    var State: String?
    var Status: String?

    var summary: ContainerSummary {
        let status = Status ?? ""
        return ContainerSummary(
            id: ContainerID(Id),
            names: (Names ?? []).map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 },
            image: Image ?? "",
            imageID: ImageID ?? "",
            command: Command ?? "",
            state: ContainerState(State ?? ""),
            status: status,
            health: ContainerHealth(status: status),
            labels: Labels ?? [:],
            ports: (Ports ?? []).map { ContainerPort(privatePort: $0.PrivatePort, publicPort: $0.PublicPort, type: $0.Type ?? "tcp", ip: $0.IP) },
            created: Date(timeIntervalSince1970: TimeInterval(Created ?? 0))
        )
    }
}

struct WireInspect: Decodable {
    struct StateInfo: Decodable {
        struct HealthInfo: Decodable { var Status: String? }
        var Status: String?
        var Running: Bool?
        var Paused: Bool?
        var Restarting: Bool?
        var Pid: Int?
        var ExitCode: Int?
        var Error: String?
        var StartedAt: String?
        var FinishedAt: String?
        var Health: HealthInfo?
    }
    struct ConfigInfo: Decodable {
        var Image: String?
        var Cmd: [String]?
        var Entrypoint: [String]?
        var Labels: [String: String]?
        var Tty: Bool?
    }
    struct HostConfigInfo: Decodable {
        struct RestartPolicyInfo: Decodable { var Name: String? }
        var NetworkMode: String?
        var RestartPolicy: RestartPolicyInfo?
    }
    struct MountInfo: Decodable {
        var `Type`: String?
        var Name: String?
        var Source: String?
        var Destination: String?
        var RW: Bool?
    }
    var Id: String
    var Created: String?
    var Name: String?
    var Image: String?
    var State: StateInfo?
    var RestartCount: Int?
    var Config: ConfigInfo?
    var HostConfig: HostConfigInfo?
    var Mounts: [MountInfo]?

    var details: ContainerDetails {
        let name = Name ?? ""
        let error = State?.Error ?? ""
        let restart = HostConfig?.RestartPolicy?.Name ?? ""
        return ContainerDetails(
            id: ContainerID(Id),
            name: name.hasPrefix("/") ? String(name.dropFirst()) : name,
            image: Config?.Image ?? "",
            imageID: Image ?? "",
            created: Created.flatMap(DockerDate.parse) ?? Date(timeIntervalSince1970: 0),
            state: ContainerState(State?.Status ?? ""),
            running: State?.Running ?? false,
            paused: State?.Paused ?? false,
            restarting: State?.Restarting ?? false,
            pid: State?.Pid ?? 0,
            exitCode: State?.ExitCode ?? 0,
            error: error.isEmpty ? nil : error,
            startedAt: State?.StartedAt.flatMap(DockerDate.parse),
            finishedAt: State?.FinishedAt.flatMap(DockerDate.parse),
            health: State?.Health?.Status.flatMap(ContainerHealth.init(rawValue:)),
            restartCount: RestartCount ?? 0,
            labels: Config?.Labels ?? [:],
            command: (Config?.Entrypoint ?? []) + (Config?.Cmd ?? []),
            tty: Config?.Tty ?? false,
            networkMode: HostConfig?.NetworkMode ?? "",
            restartPolicy: restart.isEmpty ? "no" : restart,
            mounts: (Mounts ?? []).map {
                ContainerDetails.Mount(type: $0.Type ?? "", name: $0.Name, source: $0.Source ?? "",
                                       destination: $0.Destination ?? "", readWrite: $0.RW ?? true)
            }
        )
    }
}

struct WireCreateContainer: Encodable {
    struct HostConfigBody: Encodable { var NetworkMode: String }
    var Image: String
    var Cmd: [String]?
    var Labels: [String: String]
    var Env: [String]
    var Tty: Bool
    var HostConfig: HostConfigBody

    init(_ spec: ContainerSpec) {
        Image = spec.image.rawValue
        Cmd = spec.command.isEmpty ? nil : spec.command
        Labels = spec.labels
        Env = spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        Tty = spec.tty
        HostConfig = .init(NetworkMode: spec.networkMode.apiValue)
    }
}

struct WireCreated: Decodable {
    var Id: String
}

struct WireImage: Decodable {
    var Id: String
    var RepoTags: [String]?
    var Created: Int64?
    var Size: Int64?
    var Labels: [String: String]?
    var Containers: Int?

    var summary: ImageSummary {
        ImageSummary(
            id: ImageID(Id),
            repoTags: (RepoTags ?? []).filter { $0 != "<none>:<none>" },
            created: Date(timeIntervalSince1970: TimeInterval(Created ?? 0)),
            size: Size ?? 0,
            labels: Labels ?? [:],
            containers: Containers.flatMap { $0 < 0 ? nil : $0 }
        )
    }
}

struct WirePrune: Decodable {
    struct Item: Decodable {
        var Untagged: String?
        var Deleted: String?
    }
    var ImagesDeleted: [Item]?
    var SpaceReclaimed: Int64?

    var report: ImagePruneReport {
        ImagePruneReport(deleted: (ImagesDeleted ?? []).compactMap { $0.Deleted ?? $0.Untagged }, spaceReclaimed: SpaceReclaimed ?? 0)
    }
}

struct WireVolume: Decodable {
    var Name: String
    var Driver: String?
    var Mountpoint: String?
    var Labels: [String: String]?
    var Scope: String?
    var CreatedAt: String?

    var summary: VolumeSummary {
        VolumeSummary(name: Name, driver: Driver ?? "", mountpoint: Mountpoint ?? "", labels: Labels ?? [:],
                      scope: Scope ?? "local", createdAt: CreatedAt.flatMap(DockerDate.parse))
    }
}

struct WireVolumeList: Decodable {
    var Volumes: [WireVolume]?
}

struct WireCreateVolume: Encodable {
    var Name: String
    var Driver = "local"
    var Labels: [String: String]
}

struct WireNetwork: Decodable {
    var Id: String
    var Name: String
    var Driver: String?
    var Scope: String?
    var Internal: Bool?
    var Labels: [String: String]?

    var summary: NetworkSummary {
        NetworkSummary(id: Id, name: Name, driver: Driver ?? "", scope: Scope ?? "local",
                       isInternal: Internal ?? false, labels: Labels ?? [:])
    }
}

struct WireStats: Decodable {
    struct CPU: Decodable {
        struct Usage: Decodable {
            var total_usage: UInt64?
            var percpu_usage: [UInt64]?
        }
        var cpu_usage: Usage?
        var system_cpu_usage: UInt64?
        var online_cpus: Int?
    }
    struct Memory: Decodable {
        var usage: UInt64?
        var limit: UInt64?
        var stats: [String: UInt64]?
    }
    struct Network: Decodable {
        var rx_bytes: UInt64?
        var tx_bytes: UInt64?
    }
    struct BlockIO: Decodable {
        struct Entry: Decodable {
            var op: String?
            var value: UInt64?
        }
        var io_service_bytes_recursive: [Entry]?
    }
    struct PidsInfo: Decodable { var current: UInt64? }
    var read: String?
    var cpu_stats: CPU?
    var precpu_stats: CPU?
    var memory_stats: Memory?
    var networks: [String: Network]?
    var blkio_stats: BlockIO?
    var pids_stats: PidsInfo?

    var stats: ContainerStats {
        let online = cpu_stats?.online_cpus ?? cpu_stats?.cpu_usage?.percpu_usage?.count ?? 1
        let cpuDelta = Double(cpu_stats?.cpu_usage?.total_usage ?? 0) - Double(precpu_stats?.cpu_usage?.total_usage ?? 0)
        let systemDelta = Double(cpu_stats?.system_cpu_usage ?? 0) - Double(precpu_stats?.system_cpu_usage ?? 0)
        let cpu = (cpuDelta > 0 && systemDelta > 0 && (precpu_stats?.system_cpu_usage ?? 0) > 0)
            ? cpuDelta / systemDelta * Double(max(online, 1)) * 100 : 0
        // `docker stats` leaves out the page cache: inactive_file (cgroup v2) or cache (v1).
        let usage = memory_stats?.usage ?? 0
        let memoryDetail = memory_stats?.stats ?? [:]
        let cache = memoryDetail["total_inactive_file"] ?? memoryDetail["inactive_file"] ?? memoryDetail["cache"] ?? 0
        var read: UInt64 = 0, write: UInt64 = 0
        for entry in blkio_stats?.io_service_bytes_recursive ?? [] {
            switch entry.op?.lowercased() {
            case "read": read += entry.value ?? 0
            case "write": write += entry.value ?? 0
            default: break
            }
        }
        let nets = (networks ?? [:]).values
        return ContainerStats(
            read: self.read.flatMap(DockerDate.parse),
            cpuPercent: cpu,
            onlineCPUs: online,
            memoryUsage: cache < usage ? usage - cache : usage,
            memoryLimit: memory_stats?.limit ?? 0,
            networkRx: nets.reduce(0) { $0 + ($1.rx_bytes ?? 0) },
            networkTx: nets.reduce(0) { $0 + ($1.tx_bytes ?? 0) },
            blockRead: read,
            blockWrite: write,
            pids: pids_stats?.current ?? 0
        )
    }
}

import Foundation
import HostMetrics
import Logging
import NebulaAgent
import NebulaCore

/// The embedded agent: measures the machine running `nebula serve` every interval and reports it
/// like any node, and marks silent nodes offline. Started and stopped by the composition root.
final class FleetMonitor: Sendable {
    let fleet: FleetService
    let measuresLocalHost: Bool
    let logger: Logger
    private let sampler: HostSampler
    private let loop = BackgroundTask()

    init(fleet: FleetService, measuresLocalHost: Bool, logger: Logger, sampler: HostSampler = HostSampler()) {
        self.fleet = fleet
        self.measuresLocalHost = measuresLocalHost
        self.logger = logger
        self.sampler = sampler
    }

    func start() {
        loop.start { [fleet, measuresLocalHost, logger, sampler] in
            var localID: UUID?
            if measuresLocalHost {
                do {
                    let id = try await fleet.ensureLocalServer(hostName: ProcessInfo.processInfo.hostName)
                    localID = id
                    try await fleet.recordHello(serverID: id, version: NebulaAgentVersion.current, hardware: try? await sampler.hardwareProfile())
                } catch {
                    logger.error("could not register the local node: \(String(reflecting: error))")
                }
            }
            while !Task.isCancelled {
                if let localID {
                    do {
                        let sample = try await sampler.sample()
                        try await fleet.ingest(sample, for: localID)
                    } catch is CancellationError {
                        break
                    } catch {
                        logger.warning("could not measure the local node: \(String(describing: error))")
                    }
                }
                do {
                    try await fleet.markSilentServersOffline()
                } catch {
                    logger.warning("could not check for silent nodes: \(String(reflecting: error))")
                }
                try? await Task.sleep(for: fleet.interval)
            }
        }
    }

    func stop() async {
        await loop.stop()
    }
}

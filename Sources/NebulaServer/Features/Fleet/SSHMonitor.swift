import Fluent
import Foundation
import HostMetrics
import Logging
import NebulaCore
import NebulaSSH

/// Measures agentless servers: every interval, one SSH command per server returns everything a
/// sample needs (see `RemoteCollection`), turned into a sample as the local sampler would.
/// A server that stops answering goes offline after three missed reports, like an agent node.
final class SSHMonitor: Sendable {
    let ssh: SSHAccess
    let fleet: FleetService
    let logger: Logger
    /// At most this many servers are measured at once.
    let concurrency: Int
    private let samplers = LockedValue<[UUID: RemoteHostSampler]>([:])
    private let loop = BackgroundTask()

    init(ssh: SSHAccess, fleet: FleetService, logger: Logger, concurrency: Int = 16) {
        self.ssh = ssh
        self.fleet = fleet
        self.logger = logger
        self.concurrency = concurrency
    }

    func start() {
        loop.start { [self] in
            while !Task.isCancelled {
                await pollOnce()
                try? await Task.sleep(for: fleet.interval)
            }
        }
    }

    func stop() async {
        await loop.stop()
    }

    /// Measures every SSH server once.
    func pollOnce() async {
        let servers: [ServerRecord]
        do {
            // Only servers whose host key an operator pinned with "test connection".
            servers = try await ServerRecord.query(on: ssh.db).filter(\.$connection == .ssh).filter(\.$sshHostKey != nil).all()
        } catch {
            logger.warning("could not list SSH servers: \(String(reflecting: error))")
            return
        }
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for server in servers {
                if running == concurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask { await self.measure(server) }
                running += 1
            }
        }
    }

    private func measure(_ server: ServerRecord) async {
        guard let id = server.id else { return }
        do {
            let result = try await ssh.exec(RemoteCollection.sampleCommand, on: server)
            guard result.exitStatus == 0 else {
                throw SSHError.channelFailed("the metrics command exited with status \(result.exitStatus): \(result.stderrText.prefix(300))")
            }
            let sampler = samplers.withLock { samplers in
                if let existing = samplers[id] { return existing }
                let created = RemoteHostSampler()
                samplers[id] = created
                return created
            }
            let sample = try await sampler.sample(fromOutput: result.stdoutText)
            try await fleet.ingest(sample, for: id)
            if server.lastError != nil { try await record(nil, for: id) }
        } catch {
            let message = (error as? SSHError)?.description ?? String(describing: error)
            if server.lastError != message {
                logger.notice("measuring \(server.name) over SSH failed: \(message)")
                try? await record(message, for: id)
            }
        }
    }

    /// Stores the last failure on a fresh copy, so it never overwrites what `ingest` just stored.
    private func record(_ message: String?, for id: UUID) async throws {
        guard let current = try await ServerRecord.find(id, on: ssh.db) else { return }
        current.lastError = message
        try await current.update(on: ssh.db)
    }
}

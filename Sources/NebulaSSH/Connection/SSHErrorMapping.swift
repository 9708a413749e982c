import Foundation
import NIOCore
import NIOPosix
import NIOSSH

/// Turns NIO / NIOSSH errors into `SSHError`s that say what failed and what to do.
enum SSHErrorMapping {
    /// An error from `ClientBootstrap.connect` (DNS, TCP).
    static func connectError(_ error: any Error, target: SSHTarget, timeout: Duration) -> SSHError {
        if let error = error as? SSHError { return error }
        if let error = error as? NIOConnectionError {
            let failures = error.connectionErrors.map(\.error)
            if failures.isEmpty {
                if let dns = error.dnsAError ?? error.dnsAAAAError {
                    return .unreachable(target.address, reason: "the host name \(target.host) does not resolve (\(dns))")
                }
                return .unreachable(target.address, reason: "the host name \(target.host) has no addresses")
            }
            if failures.contains(where: { errno(of: $0) == ECONNREFUSED }) {
                return .connectionRefused(target.address)
            }
            if failures.contains(where: isTimeout) {
                return .timedOut("connecting to \(target.address)", after: timeout)
            }
            return single(failures[0], target: target, timeout: timeout)
        }
        return single(error, target: target, timeout: timeout)
    }

    /// An error fired on an established (or handshaking) connection.
    static func sessionError(_ error: any Error, target: SSHTarget) -> SSHError {
        if let error = error as? SSHError { return error }
        if let error = error as? NIOSSHError {
            return .protocolError(target.address, reason: explain(error))
        }
        if let code = errno(of: error) {
            return .connectionLost(target.address, reason: describe(errno: code))
        }
        if let error = error as? ChannelError {
            switch error {
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed:
                return .connectionLost(target.address, reason: "the connection closed")
            default:
                return .connectionLost(target.address, reason: "\(error)")
            }
        }
        return .protocolError(target.address, reason: "\(error)")
    }

    private static func single(_ error: any Error, target: SSHTarget, timeout: Duration) -> SSHError {
        if isTimeout(error) { return .timedOut("connecting to \(target.address)", after: timeout) }
        if let dns = error as? SocketAddressError.UnknownHost {
            return .unreachable(target.address, reason: "the host name \(target.host) does not resolve (\(dns.errorDescription))")
        }
        guard let code = errno(of: error) else {
            return .unreachable(target.address, reason: "\(error)")
        }
        switch code {
        case ECONNREFUSED:
            return .connectionRefused(target.address)
        case EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN, EADDRNOTAVAIL:
            return .unreachable(target.address, reason: "no route to the host (\(describe(errno: code)))")
        default:
            return .unreachable(target.address, reason: describe(errno: code))
        }
    }

    private static func isTimeout(_ error: any Error) -> Bool {
        if case .connectTimeout = error as? ChannelError { return true }
        return errno(of: error) == ETIMEDOUT
    }

    private static func errno(of error: any Error) -> Int32? {
        (error as? IOError)?.errnoCode
    }

    private static func describe(errno code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }

    private static func explain(_ error: NIOSSHError) -> String {
        switch error.type {
        case .unsupportedVersion:
            "the peer is not an SSH-2 server (\(error))"
        case .keyExchangeNegotiationFailure:
            "no common key-exchange, host-key or cipher algorithm (this client supports ed25519/ECDSA host keys, curve25519/ECDH key exchange and AES-GCM)"
        case .invalidExchangeHashSignature:
            "the server's key-exchange signature did not verify against its host key"
        case .tcpShutdown:
            "the connection closed in the middle of the SSH session"
        default:
            "\(error)"
        }
    }
}

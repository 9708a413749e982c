import DockerEngine
import Foundation
import Testing

@Suite(.enabled(if: TestDocker.enabled, TestDocker.skipMessage))
struct ResourcesTests {
    @Test func imagesVolumesAndNetworksAreListed() async throws {
        // setup
        let docker = try TestDocker.client()
        let name = "nebula-test-\(UUID().uuidString.prefix(8).lowercased())"
        let labels = TestDocker.labels()
        // act
        let images = try await docker.images()
        let created = try await docker.createVolume(name: name, labels: labels)
        let volumes = try await docker.volumes()
        let networks = try await docker.networks()
        try await docker.removeVolume(name: name, force: false)
        let afterRemove = try await docker.volumes()
        // verify
        let busybox = try #require(images.first { $0.repoTags.contains("\(TestDocker.image.rawValue):latest") })
        #expect(busybox.id.rawValue.hasPrefix("sha256:"))
        #expect(busybox.size > 0)
        #expect(created.name == name && created.driver == "local")
        #expect(volumes.first { $0.name == name }?.labels == labels)
        #expect(!afterRemove.contains { $0.name == name })
        #expect(Set(networks.map(\.name)).isSuperset(of: ["host", "none"]))
        #expect(networks.first { $0.name == "host" }?.driver == "host")
    }

    @Test func pruneRemovesOnlyImagesWithTheLabels() async throws {
        // setup: two unused images from one stopped container, only one labelled as Nebula's
        let docker = try TestDocker.client()
        let run = UUID().uuidString.prefix(8).lowercased()
        let managed = "nebula-test/prune-managed:\(run)", foreign = "nebula-test/prune-foreign:\(run)"
        try await TestDocker.withContainer(docker, command: ["true"], start: false, labels: [:]) { id in
            try TestDocker.cli(["commit", "--change", "LABEL dev.nebula.managed=true", "--change", "LABEL nebula.test=\(run)", id.rawValue, managed])
            try TestDocker.cli(["commit", "--change", "LABEL nebula.test=\(run)", id.rawValue, foreign])
        }
        // act
        let report = try await docker.pruneImages(labels: ImageLabelFilter("dev.nebula.managed", "true", and: ["nebula.test": String(run)]))
        let images = try await docker.images()
        try? await docker.removeImage(ImageID(foreign), force: true)
        // verify
        let tags = Set(images.flatMap(\.repoTags))
        #expect(!tags.contains(managed))
        #expect(tags.contains(foreign))
        #expect(tags.contains("\(TestDocker.image.rawValue):latest"))
        #expect(report.deleted.contains { $0.contains(managed) || $0.hasPrefix("sha256:") })
    }

    @Test func removingAnImageInUseIsAConflict() async throws {
        // setup
        let docker = try TestDocker.client()
        let run = UUID().uuidString.prefix(8).lowercased()
        let tag = "nebula-test/in-use:\(run)"
        let source = try await docker.createContainer(ContainerSpec(image: TestDocker.image, command: ["true"]))
        try TestDocker.cli(["commit", source.rawValue, tag])
        try await docker.remove(source)
        try await TestDocker.withContainer(docker, command: ["sleep", "300"]) { _ in
            let user = try await docker.run(ContainerSpec(image: ImageID(tag), command: ["sleep", "300"]))
            // act
            let error = await #expect(throws: DockerError.self) { try await docker.removeImage(ImageID(tag), force: false) }
            try await docker.remove(user, force: true, removeVolumes: true)
            try await docker.removeImage(ImageID(tag), force: false)
            // verify
            #expect(error?.code == .conflict)
            #expect(try await !docker.images().contains { $0.repoTags.contains(tag) })
        }
    }
}

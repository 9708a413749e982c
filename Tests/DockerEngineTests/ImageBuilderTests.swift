import DockerEngine
import Foundation
import Testing

/// `docker build` against the real dockerd, from `local/busybox` (the only base image here).
@Suite(.enabled(if: TestDocker.enabled, TestDocker.skipMessage))
struct ImageBuilderTests {
    func builder() throws -> DefaultImageBuilder {
        DefaultImageBuilder(endpoint: try TestDocker.client().endpoint)
    }

    @Test func buildsTagsAndLabelsAnImage() async throws {
        // setup
        let docker = try TestDocker.client()
        let context = try TestProjects.directory("build")
        defer { TestProjects.remove(context) }
        let content = "built-\(UUID().uuidString.prefix(8))"
        try TestProjects.write(context + "/site/hello.txt", content + "\n")
        try TestProjects.write(context + "/docker/web.Dockerfile", """
            FROM \(TestDocker.image.rawValue)
            COPY site/hello.txt /hello.txt
            CMD ["cat", "/hello.txt"]
            """)
        let tag = "nebula-test/build-\(UUID().uuidString.prefix(8).lowercased()):1"
        let run = UUID().uuidString
        let lines = TestProjects.Lines()
        defer { Task { try? await docker.removeImage(ImageID(tag), force: true) } }
        // act
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await builder().build(
            ImageBuildRequest(context: context, dockerfile: "docker/web.Dockerfile", tag: tag, labels: ["nebula.test": run, "dev.nebula.app": "blog"]),
            output: lines.callback)
        print("image build took \(clock.now - started)")
        let image = try await docker.images().first { $0.repoTags.contains(tag) }
        let container = try await docker.run(ContainerSpec(image: ImageID(tag), labels: TestDocker.labels(run)))
        try await TestDocker.waitUntilExited(docker, container)
        let printed = try await TestDocker.collect(docker.logs(container)).map(\.text)
        try? await docker.remove(container, force: true, removeVolumes: true)
        try await docker.removeImage(ImageID(tag), force: true)
        // verify
        #expect(result.imageID.hasPrefix("sha256:"))
        #expect(image?.id.rawValue == result.imageID)
        #expect(image?.labels["dev.nebula.managed"] == "true")
        #expect(image?.labels["nebula.test"] == run)
        #expect(image?.labels["dev.nebula.app"] == "blog")
        #expect(lines.all.contains { $0.hasPrefix("Step 2/") && $0.contains("COPY") })
        #expect(!lines.all.contains { $0.contains("DEPRECATED") })
        #expect(printed.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } == [content])
    }

    @Test func aFailingStepReportsItsOutput() async throws {
        // setup
        let docker = try TestDocker.client()
        let context = try TestProjects.directory("build")
        defer { TestProjects.remove(context) }
        let marker = "step-output-\(UUID().uuidString.prefix(8))"
        try TestProjects.write(context + "/Dockerfile", """
            FROM \(TestDocker.image.rawValue)
            RUN echo \(marker) && false
            """)
        let tag = "nebula-test/fail-\(UUID().uuidString.prefix(8).lowercased()):1"
        // act
        let builder = try builder()
        var caught: ImageBuildError?
        do {
            _ = try await builder.build(ImageBuildRequest(context: context, tag: tag), output: { _ in })
        } catch {
            caught = error
        }
        // Only this build's step could run the marker command (other tests create containers meanwhile).
        let leftover = try await docker.containers(all: true).filter { $0.command.contains(marker) }
        // verify
        let error = try #require(caught)
        #expect(error.code == .failed)
        #expect(error.output.contains(marker))
        #expect(error.output.contains { $0.contains("returned a non-zero code") })
        #expect(error.description.contains(marker))
        #expect(leftover.isEmpty, "the failed step's container was removed (--force-rm)")
    }

    @Test func refusesADockerfileOutsideTheContext() async throws {
        // setup
        let outside = try TestProjects.directory("build-outside")
        let context = try TestProjects.directory("build")
        defer { TestProjects.remove(outside); TestProjects.remove(context) }
        try TestProjects.write(outside + "/Dockerfile", "FROM \(TestDocker.image.rawValue)\n")
        try FileManager.default.createSymbolicLink(atPath: context + "/Linked.Dockerfile", withDestinationPath: outside + "/Dockerfile")
        let relative = "../" + (outside as NSString).lastPathComponent + "/Dockerfile"
        // act
        let builder = try builder()
        var errors: [ImageBuildError] = []
        for request in [ImageBuildRequest(context: context, dockerfile: relative, tag: "nebula-test/x:1"),
                        ImageBuildRequest(context: context, dockerfile: "Linked.Dockerfile", tag: "nebula-test/x:1"),
                        ImageBuildRequest(context: context, dockerfile: "Missing", tag: "nebula-test/x:1"),
                        ImageBuildRequest(context: outside, tag: "--help")] {
            do { _ = try await builder.build(request, output: { _ in }) } catch { errors.append(error) }
        }
        // verify
        #expect(errors.count == 4)
        #expect(errors.allSatisfy { $0.code == .invalidRequest })
        #expect(errors[0].description.contains("outside the context"))
    }
}

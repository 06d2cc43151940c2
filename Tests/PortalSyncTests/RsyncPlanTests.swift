import Testing
@testable import PortalSync
import PortalModel

@Suite("the trailing-slash rule and rsync's arguments")
struct RsyncPlanTests {
    func plan(_ direction: PortalSpec.Channel.Direction, _ local: String, _ remote: String,
              recursive: Bool = true, delete: Bool = false) -> RsyncPlan {
        RsyncPlan(channel: .init(direction: direction, localPath: local, remotePath: remote, recursive: recursive, delete: delete),
                  user: "ubuntu", host: "ec2-1-2-3-4.compute.amazonaws.com", remoteShell: "/tmp/p/ssh")
    }

    @Test("'src/' is the contents of src: names relative to src, watched at src")
    func contentsForm() {
        let source = SourcePath("/home/me/src/")
        #expect(source.root == "/home/me/src")
        #expect(source.base == "/home/me/src/")
        #expect(source.prefix == "")
        #expect(source.isContents)
        #expect(source.name("train.py") == "train.py")
        #expect(source.name("a/b.py") == "a/b.py")
    }

    @Test("'src' is the folder itself: names start with src, relative to its parent")
    func folderForm() {
        let source = SourcePath("/home/me/src")
        #expect(source.root == "/home/me/src")
        #expect(source.base == "/home/me/")
        #expect(source.prefix == "src")
        #expect(source.name("train.py") == "src/train.py")
        #expect(source.name("") == "src")
    }

    @Test("several trailing slashes are one; the root folder is its contents")
    func edges() {
        #expect(SourcePath("/data//").root == "/data")
        #expect(SourcePath("/data//").isContents)
        #expect(SourcePath("/").base == "/")
        #expect(SourcePath("/top").base == "/")
        #expect(SourcePath("/top").prefix == "top")
    }

    @Test("a full outbound pass sends the local path as written into the remote folder")
    func fullOut() {
        let contents = plan(.out, "/home/me/src/", "/data/src").fullArguments
        #expect(contents.suffix(2) == ["/home/me/src/", "ubuntu@ec2-1-2-3-4.compute.amazonaws.com:/data/src/"])
        let folder = plan(.out, "/home/me/src", "/data").fullArguments
        #expect(folder.suffix(2) == ["/home/me/src", "ubuntu@ec2-1-2-3-4.compute.amazonaws.com:/data/"])
        #expect(contents.starts(with: ["-r", "-s", "--links", "--perms", "--times", "--modify-window=-1", "--timeout=60",
                                       "-e", "/tmp/p/ssh", "--out-format=%i %l %n"]))
        #expect(!contents.contains("--ignore-times"))
    }

    @Test("a full inbound pass fetches the remote path as written into the local folder")
    func fullIn() {
        let arguments = plan(.in, "/home/me/results", "/data/runs/").fullArguments
        #expect(arguments.suffix(2) == ["ubuntu@ec2-1-2-3-4.compute.amazonaws.com:/data/runs/", "/home/me/results/"])
        let folder = plan(.in, "/home/me/results/", "/data/runs").fullArguments
        #expect(folder.suffix(2) == ["ubuntu@ec2-1-2-3-4.compute.amazonaws.com:/data/runs", "/home/me/results/"])
    }

    @Test("non-recursive: -d, and the folder form sends the folder's own files into DEST/NAME/")
    func nonRecursive() {
        let folder = plan(.out, "/home/me/src", "/data", recursive: false).fullArguments
        #expect(folder.first == "-d")
        #expect(!folder.contains("-r"))
        #expect(folder.suffix(2) == ["/home/me/src/", "ubuntu@ec2-1-2-3-4.compute.amazonaws.com:/data/src/"])
        var file = plan(.out, "/home/me/train.py", "/data", recursive: false)
        file.sourceIsFolder = false
        #expect(file.fullArguments.suffix(2) == ["/home/me/train.py", "ubuntu@ec2-1-2-3-4.compute.amazonaws.com:/data/"])
    }

    @Test("nothing is deleted unless the channel says so; never --inplace")
    func deletion() {
        let keep = plan(.out, "/s/", "/d")
        #expect(!keep.fullArguments.contains("--delete"))
        #expect(!keep.changesArguments(listFile: "/l").contains { $0.hasPrefix("--delete") })
        #expect(keep.changesArguments(listFile: "/l").contains("--ignore-missing-args"))
        let delete = plan(.out, "/s/", "/d", delete: true)
        #expect(delete.fullArguments.contains("--delete"))
        #expect(delete.changesArguments(listFile: "/l").contains("--delete-missing-args"))
        for arguments in [keep.fullArguments, delete.fullArguments, delete.changesArguments(listFile: "/l")] {
            #expect(!arguments.contains("--inplace"))
            #expect(!arguments.contains("--partial"))
        }
    }

    @Test("a pass over changes names the base of the source and a NUL-separated list")
    func changes() {
        let arguments = plan(.out, "/home/me/src", "/data").changesArguments(listFile: "/tmp/p/list-0")
        #expect(arguments.contains("--files-from=/tmp/p/list-0"))
        #expect(arguments.contains("--from0"))
        #expect(arguments.contains("--ignore-times"), "a listed file changed: no quick check that could skip it")
        #expect(arguments.suffix(2) == ["/home/me/", "ubuntu@ec2-1-2-3-4.compute.amazonaws.com:/data/"])
        let inbound = plan(.in, "/home/me/results", "/data/runs/").changesArguments(listFile: "/l")
        #expect(inbound.suffix(2) == ["ubuntu@ec2-1-2-3-4.compute.amazonaws.com:/data/runs/", "/home/me/results/"])
    }

    @Test("the --files-from list: sorted, prefixed in the folder form, each name ended by NUL")
    func filesFrom() {
        let contents = filesFromList(["b.py", "a/x.py", "new\nline"], source: SourcePath("/s/"))
        #expect(contents == Array("a/x.py\u{0}b.py\u{0}new\nline\u{0}".utf8))
        let folder = filesFromList(["b.py", ""], source: SourcePath("/home/src"))
        #expect(folder == Array("src\u{0}src/b.py\u{0}".utf8))
        #expect(filesFromList([], source: SourcePath("/s/")).isEmpty)
    }

    @Test("an IPv6 host is bracketed in a remote path")
    func ipv6() {
        #expect(remoteSpec(user: "u", host: "::1", path: "/d/") == "u@[::1]:/d/")
        #expect(remoteSpec(user: "u", host: "10.0.0.1", path: "/d/") == "u@10.0.0.1:/d/")
    }
}

import PortalBase

/// The spec's fields, one reader each, their relations, and the files the
/// spec names on this machine: what `SpecChecker` checks, in the order
/// `PortalSpec.validate` lists problems.
extension SpecChecker {
    func readSpec(_ json: JSON, at root: FieldPath) -> PortalSpec? {
        var instance: PortalSpec.SpotInstance?
        var fleet: PortalSpec.SpotFleet?
        var volumes: [VolumeDraft] = []
        var channels: [ChannelDraft] = []
        var ssh = PortalSpec.SSH()
        var sshValid = true
        let spotMarket = SpotMarketDraft()
        let isObject = object(json, at: root, spotMarketFields(spotMarket) + [
            Field("spot_instance", required: true) { value, path in instance = self.readSpotInstance(value, at: path) },
            Field("spot_fleet") { value, path in
                var role: String?
                self.object(value, at: path, [
                    Field("iam_fleet_role", required: true) { value, path in
                        guard let string = self.string(value, at: path) else { return }
                        guard string.hasPrefix("arn:") else {
                            self.fail(path, "expected a role ARN such as \"arn:aws:iam::123456789012:role/aws-ec2-spot-fleet-tagging-role\", found \(value.shortDescription)")
                            return
                        }
                        role = string
                    },
                ])
                fleet = role.map(PortalSpec.SpotFleet.init)
            },
            Field("persistent_volumes") { value, path in
                volumes = self.array(value, at: path, of: "an array of volumes") { self.readVolume($0, at: $1) }?
                    .compactMap { $0 } ?? []
            },
            Field("channels") { value, path in
                channels = self.array(value, at: path, of: "an array of channels") { self.readChannel($0, at: $1) }?
                    .compactMap { $0 } ?? []
            },
            Field("ssh") { value, path in
                if let read = self.readSSH(value, at: path) { ssh = read } else { sshValid = false }
            },
        ])
        guard isObject else { return nil }
        checkVolumes(volumes)
        checkChannels(channels)
        if checkFiles, let (file, path) = identityFile {
            checkIdentityFile(file, at: path)
        }

        guard let instance, sshValid else { return nil }
        let builtVolumes = volumes.compactMap(\.volume)
        let builtChannels = channels.compactMap(\.channel)
        guard builtVolumes.count == volumes.count, builtChannels.count == channels.count else { return nil }
        var spec = PortalSpec(spotInstance: instance, spotFleet: fleet, persistentVolumes: builtVolumes,
                              channels: builtChannels, ssh: ssh)
        spec.spotMarket = spotMarket.value
        return spec
    }

    func readSpotInstance(_ value: JSON, at path: FieldPath) -> PortalSpec.SpotInstance? {
        var instanceType: String?, imageID: String?, keyPairName: String?, identityFile: String?
        var securityGroupID: String?, availabilityZone: String?, subnetID: String?
        var ebsOptimized = false
        var remoteUser: String? = "ubuntu"
        var remoteGroup: String?
        var pythonVirtualEnv: String?
        var packages: [String] = [], commands: [String] = []
        let isObject = object(value, at: path, [
            Field("instance_type", required: true) { value, path in
                guard let string = self.string(value, at: path) else { return }
                guard SpecChecker.isInstanceType(string) else {
                    self.fail(path, "expected an instance type such as \"t3.medium\", found \(value.shortDescription)")
                    return
                }
                instanceType = string
            },
            Field("image_id", required: true) { value, path in
                guard let string = self.string(value, at: path) else { return }
                // RunInstances also takes an SSM parameter in place of an AMI id.
                guard (string.hasPrefix("ami-") && string.count > 4) || string.hasPrefix("resolve:ssm:") else {
                    self.fail(path, "expected an AMI id such as \"ami-0123456789abcdef0\", found \(value.shortDescription)")
                    return
                }
                imageID = string
            },
            Field("key_pair_name", required: true) { value, path in keyPairName = self.string(value, at: path) },
            Field("identity_file", required: true) { value, path in
                identityFile = self.localPath(value, at: path)
                if let identityFile { self.identityFile = (identityFile, path) }
            },
            Field("security_group_id", required: true) { value, path in
                securityGroupID = self.awsID(value, at: path, prefix: "sg-", what: "a security group id")
            },
            Field("availability_zone", required: true) { value, path in availabilityZone = self.string(value, at: path) },
            Field("subnet_id") { value, path in
                subnetID = self.awsID(value, at: path, prefix: "subnet-", what: "a subnet id")
            },
            Field("ebs_optimized") { value, path in ebsOptimized = self.bool(value, at: path) ?? false },
            Field("remote_user") { value, path in remoteUser = self.userName(value, at: path) },
            Field("remote_group") { value, path in remoteGroup = self.userName(value, at: path) },
            Field("python_virtual_env") { value, path in pythonVirtualEnv = self.string(value, at: path) },
            Field("extra_python_packages") { value, path in packages = self.strings(value, at: path) ?? [] },
            Field("setup_commands") { value, path in commands = self.strings(value, at: path) ?? [] },
        ])
        guard isObject, let instanceType, let imageID, let keyPairName, let identityFile, let securityGroupID,
            let availabilityZone, let remoteUser
        else { return nil }
        return PortalSpec.SpotInstance(
            instanceType: instanceType, imageID: imageID, keyPairName: keyPairName, identityFile: identityFile,
            securityGroupID: securityGroupID, availabilityZone: availabilityZone, subnetID: subnetID,
            ebsOptimized: ebsOptimized, remoteUser: remoteUser, remoteGroup: remoteGroup ?? remoteUser,
            pythonVirtualEnv: pythonVirtualEnv, extraPythonPackages: packages, setupCommands: commands)
    }

    /// `t3.medium`, `p4de.24xlarge`, `u-6tb1.metal`: a family and a size.
    static func isInstanceType(_ string: String) -> Bool {
        let parts = string.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { part in
            !part.isEmpty && part.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        }
    }

    /// A Unix user or group name, as Debian's adduser accepts it by default.
    func userName(_ value: JSON, at path: FieldPath) -> String? {
        guard let string = string(value, at: path) else { return nil }
        let valid = string.first.map { ("a"..."z").contains($0) || $0 == "_" } == true
            && string.count <= 32
            && string.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
        guard valid else {
            fail(path, "expected a user or group name such as \"ubuntu\" (lowercase letters, digits, '_', '-'), found \(value.shortDescription)")
            return nil
        }
        return string
    }

    struct VolumeDraft {
        var path: FieldPath
        var volumeID: VolumeID?
        var device: String?
        var mountPoint: String?
        var volume: PortalSpec.PersistentVolume? {
            guard let volumeID, let device, let mountPoint else { return nil }
            return .init(volumeID: volumeID, device: device, mountPoint: mountPoint)
        }
    }

    func readVolume(_ value: JSON, at path: FieldPath) -> VolumeDraft? {
        var draft = VolumeDraft(path: path)
        let isObject = object(value, at: path, [
            Field(DocumentKey.volumeID, required: true) { value, path in
                guard let string = self.string(value, at: path) else { return }
                guard let id = VolumeID(string) else {
                    self.fail(path, "expected a volume id such as \"vol-0123456789abcdef0\", found \(value.shortDescription)")
                    return
                }
                draft.volumeID = id
            },
            Field("device", required: true) { value, path in
                guard var string = self.string(value, at: path) else { return }
                // AttachVolume takes a bare name (xvdf) as well: it is /dev/xvdf.
                if !string.isEmpty, string.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
                    string = "/dev/" + string
                }
                guard string.hasPrefix("/dev/"), string.count > 5, !string.hasSuffix("/") else {
                    self.fail(path, "expected a device under /dev/ such as \"/dev/xvdf\", found \(value.shortDescription)")
                    return
                }
                draft.device = string
            },
            Field("mount_point", required: true) { value, path in
                guard let string = self.string(value, at: path) else { return }
                let normalised = SpecPaths.remote(string, keepingTrailingSlash: false)
                guard normalised != "/" else {
                    self.fail(path, "expected a folder other than /, found \(value.shortDescription)")
                    return
                }
                // Mounted over the home folder, the volume would hide ~/.ssh: no login.
                guard normalised != "." else {
                    self.fail(path, "expected a folder other than the remote user's home, found \(value.shortDescription)")
                    return
                }
                draft.mountPoint = normalised
            },
        ])
        return isObject ? draft : nil
    }

    struct ChannelDraft {
        var path: FieldPath
        var direction: PortalSpec.Channel.Direction?
        var localPath: String?
        var remotePath: String?
        var recursive = false
        var delay = 1.0
        var delete = false
        var valid = true
        var channel: PortalSpec.Channel? {
            guard valid, let direction, let localPath, let remotePath else { return nil }
            return .init(direction: direction, localPath: localPath, remotePath: remotePath,
                         recursive: recursive, delay: delay, delete: delete)
        }
    }

    func readChannel(_ value: JSON, at path: FieldPath) -> ChannelDraft? {
        var draft = ChannelDraft(path: path)
        let isObject = object(value, at: path, [
            Field("direction", required: true) { value, path in
                guard let string = self.string(value, at: path) else { return }
                guard let direction = PortalSpec.Channel.Direction(rawValue: string) else {
                    self.fail(path, "expected \"in\" or \"out\", found \(value.shortDescription)")
                    return
                }
                draft.direction = direction
            },
            Field("local_path", required: true) { value, path in draft.localPath = self.localPath(value, at: path) },
            Field("remote_path", required: true) { value, path in
                draft.remotePath = self.remotePath(value, at: path)
            },
            Field("recursive") { value, path in
                if let bool = self.bool(value, at: path) { draft.recursive = bool } else { draft.valid = false }
            },
            Field("delay") { value, path in
                guard let seconds = self.number(value, at: path), seconds >= 0, seconds.isFinite else {
                    self.fail(path, "expected a number of seconds, 0 or more, found \(value.shortDescription)")
                    draft.valid = false
                    return
                }
                draft.delay = seconds
            },
            Field("delete") { value, path in
                if let bool = self.bool(value, at: path) { draft.delete = bool } else { draft.valid = false }
            },
        ])
        return isObject ? draft : nil
    }

    func readSSH(_ value: JSON, at path: FieldPath) -> PortalSpec.SSH? {
        var ssh = PortalSpec.SSH()
        var valid = true
        let isObject = object(value, at: path, [
            Field("address") { value, path in
                guard let string = self.string(value, at: path) else { valid = false; return }
                guard let address = PortalSpec.SSH.Address(rawValue: string) else {
                    self.fail(path, "expected \"public_ip\", \"private_ip\" or \"public_dns\", found \(value.shortDescription)")
                    valid = false
                    return
                }
                ssh.address = address
            },
            Field("host") { value, path in
                if let host = self.string(value, at: path) { ssh.host = host } else { valid = false }
            },
            Field("port") { value, path in
                guard let port = value.intValue, (1...65535).contains(port) else {
                    self.fail(path, "expected a port number from 1 to 65535, found \(value.shortDescription)")
                    valid = false
                    return
                }
                ssh.port = Int(port)
            },
        ])
        return isObject && valid ? ssh : nil
    }

    // MARK: Relations

    func checkVolumes(_ volumes: [VolumeDraft]) {
        for (later, volume) in volumes.enumerated() {
            for earlier in volumes[..<later] {
                if let id = volume.volumeID, id == earlier.volumeID {
                    fail(volume.path.key(DocumentKey.volumeID), "'\(id)' is also \(earlier.path.key(DocumentKey.volumeID))")
                }
                if let device = volume.device, device == earlier.device {
                    fail(volume.path.key("device"), "'\(device)' is also \(earlier.path.key("device"))")
                }
                if let mountPoint = volume.mountPoint, mountPoint == earlier.mountPoint {
                    fail(volume.path.key("mount_point"), "'\(mountPoint)' is also \(earlier.path.key("mount_point"))")
                }
            }
        }
    }

    /// An inbound and an outbound channel must not share a tree on either
    /// side: each would carry the other's changes back, round and round.
    func checkChannels(_ channels: [ChannelDraft]) {
        let loop = "; an inbound and an outbound channel over one tree would sync in a loop"
        for (later, channel) in channels.enumerated() {
            for earlier in channels[..<later] {
                guard let a = channel.direction, let b = earlier.direction, a != b else { continue }
                for key in ["local_path", "remote_path"] {
                    let (mine, theirs) = key == "local_path"
                        ? (channel.localPath, earlier.localPath) : (channel.remotePath, earlier.remotePath)
                    guard let mine, let theirs,
                        let relation = SpecPaths.relation(of: mine, to: theirs)
                    else { continue }
                    fail(channel.path.key(key), "'\(mine)' \(relation) \(earlier.path.key(key)) '\(theirs)'" + loop)
                }
            }
        }
    }

    // MARK: Files on this machine

    /// ssh refuses a private key that others can read; better to say so now.
    func checkIdentityFile(_ file: String, at path: FieldPath) {
        let fail: (FieldPath, String) -> Void = filesWarn
            ? { self.warn($0, $1 + "; commands that connect will refuse it") } : self.fail
        var status = stat()
        guard stat(file, &status) == 0 else {
            if errno == ENOENT || errno == ENOTDIR {
                fail(path, "'\(file)' does not exist")
            } else {
                fail(path, "'\(file)' cannot be examined: \(String(cString: strerror(errno)))")
            }
            return
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            fail(path, "'\(file)' is not a file")
            return
        }
        let mode = status.st_mode & 0o7777
        let modeText = "mode " + String(repeating: "0", count: max(0, 4 - String(mode, radix: 8).count))
            + String(mode, radix: 8)
        if mode & 0o077 != 0 {
            let access = mode & 0o044 != 0 ? "readable" : "accessible"
            fail(path, "'\(file)' is \(access) by others (\(modeText)); ssh refuses such keys: chmod 600 '\(file)'")
            return
        }
        if access(file, R_OK) != 0 {
            fail(path, "'\(file)' cannot be read (\(modeText))")
        }
    }
}

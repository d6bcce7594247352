# The default stack (config/infra.example.yaml plus an operator CIDR and key, as `criu-lab infra
# deploy` synthesizes it), planned and applied by Terraform against the AWS provider's real
# schema with a mocked provider: no AWS call, no credentials.
#
# test/infra/terraform-test.test.ts synthesizes the stack into ./default, copies this file beside
# it and runs `terraform test`. cdktf gives Terraform names a hash suffix, so this file names a
# resource, data source or output by its construct path instead, as @{path} (the path under the
# stack, e.g. @{nodes-a/az-a-node-0} for an aws_instance or @{outputs/nodes} for an output); the
# test replaces each with its Terraform address first and refuses a path the stack lacks.
#
# The mocked provider makes up every computed value. The overrides pin those servers.yaml carries
# (instance ids and addresses, volume, file system and bucket names) to the ids and addresses the
# recorded boot consoles of test/infra/fixtures/console/ belong to, so that the outputs of this
# apply drive the deploy tests end to end.

mock_provider "aws" {}

override_resource {
  target = @{bastion/instance}
  values = { id = "i-0b5e1c2d3a4f50617", public_ip = "203.0.113.10", private_ip = "10.42.0.25" }
}
override_resource {
  target = @{nodes-a/az-a-node-0}
  values = { id = "i-0a10000000000000a", private_ip = "10.42.10.11" }
}
override_resource {
  target = @{nodes-a/az-a-node-1}
  values = { id = "i-0a10000000000000b", private_ip = "10.42.10.12" }
}
override_resource {
  target = @{nodes-c/az-c-node-0}
  values = { id = "i-0c10000000000000a", private_ip = "10.42.11.21" }
}
override_resource {
  target = @{nodes-a/az-a-node-0-images/volume}
  values = { id = "vol-0a1b2c3d4e5f60718" }
}
override_resource {
  target = @{shared-file-system/file-system}
  values = { id = "fs-0123456789abcdef0" }
}
override_resource {
  target = @{shared-file-system/mount-target-a}
  values = { ip_address = "10.42.10.5" }
}
override_resource {
  target = @{shared-file-system/mount-target-c}
  values = { ip_address = "10.42.11.5" }
}
override_resource {
  target = @{image-bucket/bucket}
  values = { bucket = "criu-lab-images-20250611093012345600000001" }
}

run "deploy" {
  command = apply
  module {
    source = "./default"
  }

  # Nodes per zone, in the config's zone order, each in its zone's private subnet.
  assert {
    condition     = [for n in @{outputs/nodes} : n.name] == ["az-a-node-0", "az-a-node-1", "az-c-node-0"]
    error_message = "the nodes output does not list az-a-node-0, az-a-node-1 and az-c-node-0 in zone order"
  }
  assert {
    condition     = length([for n in @{outputs/nodes} : n if n.zone == "az_a" && n.availability_zone == "us-west-2a"]) == 2 && length([for n in @{outputs/nodes} : n if n.zone == "az_c" && n.availability_zone == "us-west-2c"]) == 1
    error_message = "the nodes output does not hold two nodes in az_a (us-west-2a) and one in az_c (us-west-2c)"
  }
  assert {
    condition     = @{network/private-a}.availability_zone == "us-west-2a" && @{network/private-c}.availability_zone == "us-west-2c"
    error_message = "the private subnets are not in us-west-2a and us-west-2c"
  }
  assert {
    condition     = @{nodes-a/az-a-node-0}.subnet_id == @{network/private-a}.id && @{nodes-a/az-a-node-1}.subnet_id == @{network/private-a}.id && @{nodes-c/az-c-node-0}.subnet_id == @{network/private-c}.id
    error_message = "a node is not in the private subnet of its zone"
  }
  assert {
    condition     = @{outputs/nodes}[0].instance_id == @{nodes-a/az-a-node-0}.id && @{outputs/nodes}[0].ip == @{nodes-a/az-a-node-0}.private_ip && @{outputs/nodes}[2].ip == @{nodes-c/az-c-node-0}.private_ip
    error_message = "the nodes output does not carry the instances' ids and private addresses"
  }
  assert {
    condition     = !@{nodes-a/az-a-node-0}.associate_public_ip_address && !@{nodes-a/az-a-node-1}.associate_public_ip_address && !@{nodes-c/az-c-node-0}.associate_public_ip_address
    error_message = "a node gets a public address"
  }

  # The bastion: the one public host, in the public subnet.
  assert {
    condition     = @{outputs/bastion} == { name = "bastion", ip = @{bastion/instance}.public_ip, private_ip = @{bastion/instance}.private_ip, instance_id = @{bastion/instance}.id }
    error_message = "the bastion output does not carry the bastion's public and private address and id"
  }
  assert {
    condition     = @{bastion/instance}.associate_public_ip_address && @{bastion/instance}.subnet_id == @{network/public}.id && @{network/public}.availability_zone == "us-west-2a"
    error_message = "the bastion is not a public host in the public subnet of the first zone"
  }

  # Who may talk to whom: SSH to the bastion from the operator only, to the nodes from the
  # bastion and from other nodes, NFS to the mount targets from the nodes.
  assert {
    condition     = toset(@{bastion/instance}.vpc_security_group_ids) == toset([@{security-groups/bastion}.id]) && alltrue([for i in [@{nodes-a/az-a-node-0}, @{nodes-a/az-a-node-1}, @{nodes-c/az-c-node-0}] : toset(i.vpc_security_group_ids) == toset([@{security-groups/nodes}.id])])
    error_message = "the bastion is not in the bastion group alone, or a node is not in the nodes group alone"
  }
  assert {
    condition     = @{security-groups/bastion-ssh-from-operator}.security_group_id == @{security-groups/bastion}.id && @{security-groups/bastion-ssh-from-operator}.cidr_ipv4 == "198.51.100.7/32" && @{security-groups/bastion-ssh-from-operator}.from_port == 22 && @{security-groups/bastion-ssh-from-operator}.to_port == 22
    error_message = "the bastion's SSH rule does not admit exactly the operator CIDR 198.51.100.7/32"
  }
  assert {
    condition     = @{security-groups/nodes-ssh-from-bastion}.security_group_id == @{security-groups/nodes}.id && @{security-groups/nodes-ssh-from-bastion}.referenced_security_group_id == @{security-groups/bastion}.id && @{security-groups/nodes-ssh-from-bastion}.from_port == 22 && @{security-groups/nodes-ssh-from-bastion}.to_port == 22
    error_message = "the nodes group does not admit SSH from the bastion group"
  }
  assert {
    condition     = @{security-groups/bastion-ssh-to-nodes}.security_group_id == @{security-groups/bastion}.id && @{security-groups/bastion-ssh-to-nodes}.referenced_security_group_id == @{security-groups/nodes}.id
    error_message = "the bastion group's only way out is not SSH to the nodes group"
  }
  assert {
    condition     = alltrue([for r in [@{security-groups/nodes-peer-22-22}, @{security-groups/nodes-peer-27000-27099}, @{security-groups/nodes-peer-5201-5201}] : r.security_group_id == @{security-groups/nodes}.id && r.referenced_security_group_id == @{security-groups/nodes}.id])
    error_message = "the nodes group does not admit SSH, the page server ports and iperf3 from itself"
  }
  assert {
    condition     = @{security-groups/efs-nfs-from-nodes}.security_group_id == @{security-groups/efs}.id && @{security-groups/efs-nfs-from-nodes}.referenced_security_group_id == @{security-groups/nodes}.id && @{security-groups/efs-nfs-from-nodes}.from_port == 2049
    error_message = "the EFS group does not admit NFS from the nodes group"
  }
  assert {
    condition     = alltrue([for g in [@{security-groups/bastion}, @{security-groups/nodes}, @{security-groups/efs}] : g.vpc_id == @{network/vpc}.id])
    error_message = "a security group is outside the lab's VPC"
  }

  # EFS: one mount target per zone, in that zone's private subnet, and each node mounts the
  # target of its own zone.
  assert {
    condition     = @{shared-file-system/mount-target-a}.subnet_id == @{network/private-a}.id && @{shared-file-system/mount-target-c}.subnet_id == @{network/private-c}.id
    error_message = "the EFS mount targets are not one in each zone's private subnet"
  }
  assert {
    condition     = alltrue([for t in [@{shared-file-system/mount-target-a}, @{shared-file-system/mount-target-c}] : t.file_system_id == @{shared-file-system/file-system}.id && toset(t.security_groups) == toset([@{security-groups/efs}.id])])
    error_message = "a mount target is not of the lab's file system, or not in the EFS group alone"
  }
  assert {
    condition     = strcontains(@{nodes-a/az-a-node-1}.user_data, "EFS_ADDRESS='10.42.10.5'") && strcontains(@{nodes-c/az-c-node-0}.user_data, "EFS_ADDRESS='10.42.11.5'")
    error_message = "a node does not mount the EFS mount target of its own zone"
  }
  assert {
    condition     = @{outputs/efs_id} == "fs-0123456789abcdef0" && @{outputs/efs_mount} == "/mnt/efs"
    error_message = "the efs_id and efs_mount outputs do not name the file system and /mnt/efs"
  }

  # EBS: one image volume per source node (node 0 of a zone with a same-AZ peer): az-a-node-0 only.
  assert {
    condition     = @{outputs/ebs_volumes} == { "az-a-node-0" = @{nodes-a/az-a-node-0-images/volume}.id }
    error_message = "the ebs_volumes output does not map az-a-node-0, and only it, to its volume"
  }
  assert {
    condition     = @{nodes-a/az-a-node-0-images/volume}.availability_zone == "us-west-2a" && @{nodes-a/az-a-node-0-images/volume}.encrypted
    error_message = "the image volume is not an encrypted volume in us-west-2a"
  }
  assert {
    condition     = @{nodes-a/az-a-node-0-images/attachment}.volume_id == @{nodes-a/az-a-node-0-images/volume}.id && @{nodes-a/az-a-node-0-images/attachment}.instance_id == @{nodes-a/az-a-node-0}.id
    error_message = "the image volume is not attached to az-a-node-0"
  }
  assert {
    condition     = strcontains(@{nodes-a/az-a-node-0}.user_data, "EBS_VOLUME_ID='vol-0a1b2c3d4e5f60718'") && !strcontains(@{nodes-a/az-a-node-1}.user_data, "EBS_VOLUME_ID")
    error_message = "az-a-node-0 does not mount its image volume, or az-a-node-1 mounts one"
  }

  # S3 and the rest of what servers.yaml needs.
  assert {
    condition     = @{outputs/bucket} == @{image-bucket/bucket}.bucket && @{outputs/s3_prefix} == "images/"
    error_message = "the bucket and s3_prefix outputs do not name the image bucket and images/"
  }
  assert {
    condition     = @{outputs/stack} == "criu-lab" && @{outputs/region} == "us-west-2" && @{outputs/ssh_user} == "admin"
    error_message = "the stack, region and ssh_user outputs are not criu-lab, us-west-2 and admin"
  }
}

# A cross-AZ stack: prefix criu-lab-xaz, one node in zone b and two in zone d, so the first
# zone has no same-AZ peer and servers.yaml pairs az-b-node-0 with the cross-AZ az-d-node-0.
# Mocked plan and apply as in default.tftest.hcl (@{path} placeholders explained there); the
# stack is synthesized into ./cross-az.

mock_provider "aws" {}

override_resource {
  target = @{bastion/instance}
  values = { id = "i-0b5e1c2d3a4f5xaz0", public_ip = "203.0.113.20", private_ip = "10.42.0.26" }
}
override_resource {
  target = @{nodes-b/az-b-node-0}
  values = { id = "i-0b20000000000000a", private_ip = "10.42.10.31" }
}
override_resource {
  target = @{nodes-d/az-d-node-0}
  values = { id = "i-0d20000000000000a", private_ip = "10.42.11.41" }
}
override_resource {
  target = @{nodes-d/az-d-node-1}
  values = { id = "i-0d20000000000000b", private_ip = "10.42.11.42" }
}
override_resource {
  target = @{nodes-d/az-d-node-0-images/volume}
  values = { id = "vol-0d2b2c3d4e5f60718" }
}
override_resource {
  target = @{shared-file-system/file-system}
  values = { id = "fs-0d2b2c3d4e5f60718" }
}
override_resource {
  target = @{shared-file-system/mount-target-b}
  values = { ip_address = "10.42.10.5" }
}
override_resource {
  target = @{shared-file-system/mount-target-d}
  values = { ip_address = "10.42.11.5" }
}
override_resource {
  target = @{image-bucket/bucket}
  values = { bucket = "criu-lab-xaz-images-20250611093012345600000002" }
}

run "deploy" {
  command = apply
  module {
    source = "./cross-az"
  }

  assert {
    condition     = [for n in @{outputs/nodes} : [n.name, n.zone, n.availability_zone]] == [["az-b-node-0", "az_b", "us-west-2b"], ["az-d-node-0", "az_d", "us-west-2d"], ["az-d-node-1", "az_d", "us-west-2d"]]
    error_message = "the nodes output does not hold az-b-node-0 in us-west-2b, then az-d-node-0 and az-d-node-1 in us-west-2d"
  }
  assert {
    condition     = @{nodes-b/az-b-node-0}.subnet_id == @{network/private-b}.id && @{network/private-b}.availability_zone == "us-west-2b" && @{nodes-d/az-d-node-1}.subnet_id == @{network/private-d}.id && @{network/private-d}.availability_zone == "us-west-2d"
    error_message = "a node is not in the private subnet of its zone"
  }
  assert {
    condition     = @{network/public}.availability_zone == "us-west-2b" && @{bastion/instance}.subnet_id == @{network/public}.id && @{outputs/bastion}.ip == "203.0.113.20"
    error_message = "the bastion is not in the public subnet of the first zone (us-west-2b), or its output lacks its public address"
  }
  assert {
    condition     = @{security-groups/nodes-ssh-from-bastion}.referenced_security_group_id == @{security-groups/bastion}.id && @{security-groups/nodes-peer-22-22}.referenced_security_group_id == @{security-groups/nodes}.id
    error_message = "the nodes group does not admit SSH from the bastion group and from itself"
  }
  assert {
    condition     = @{shared-file-system/mount-target-b}.subnet_id == @{network/private-b}.id && @{shared-file-system/mount-target-d}.subnet_id == @{network/private-d}.id
    error_message = "the EFS mount targets are not one in each zone's private subnet"
  }
  assert {
    condition     = strcontains(@{nodes-b/az-b-node-0}.user_data, "EFS_ADDRESS='10.42.10.5'") && strcontains(@{nodes-d/az-d-node-1}.user_data, "EFS_ADDRESS='10.42.11.5'")
    error_message = "a node does not mount the EFS mount target of its own zone"
  }
  # Zone b has no same-AZ peer: its node gets no image volume; zone d's node 0 does.
  assert {
    condition     = @{outputs/ebs_volumes} == { "az-d-node-0" = @{nodes-d/az-d-node-0-images/volume}.id } && @{nodes-d/az-d-node-0-images/volume}.availability_zone == "us-west-2d"
    error_message = "the ebs_volumes output does not map az-d-node-0, and only it, to a volume in us-west-2d"
  }
  assert {
    condition     = @{nodes-d/az-d-node-0-images/attachment}.instance_id == @{nodes-d/az-d-node-0}.id && !strcontains(@{nodes-b/az-b-node-0}.user_data, "EBS_VOLUME_ID")
    error_message = "the image volume is not attached to az-d-node-0 alone"
  }
  assert {
    condition     = @{outputs/stack} == "criu-lab-xaz"
    error_message = "the stack output is not the config's prefix criu-lab-xaz"
  }
}

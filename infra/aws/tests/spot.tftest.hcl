# A spot stack (prefix criu-lab-spot, market: spot): the nodes are one-time spot instances, and
# the stack gains an AWS FIS experiment template that sends the source node (az-a-node-0) a spot
# interruption with the two-minute notice, run as a role only FIS may assume, which may interrupt
# that one instance and describe instances, nothing else. `criu-lab watch --fis` starts the
# template named by the fis_template_id output. Mocked plan and apply as in default.tftest.hcl
# (@{path} placeholders explained there); the stack is synthesized into ./spot.

mock_provider "aws" {}

override_resource {
  target = @{nodes-a/az-a-node-0}
  values = { id = "i-0a30000000000000a", private_ip = "10.42.10.51", arn = "arn:aws:ec2:us-west-2:123456789012:instance/i-0a30000000000000a" }
}
override_resource {
  target = @{nodes-a/az-a-node-1}
  values = { id = "i-0a30000000000000b", private_ip = "10.42.10.52", arn = "arn:aws:ec2:us-west-2:123456789012:instance/i-0a30000000000000b" }
}
override_resource {
  target = @{spot-interruption/role}
  values = { arn = "arn:aws:iam::123456789012:role/criu-lab-spot-fis" }
}
override_resource {
  target = @{spot-interruption/template}
  values = { id = "EXT3a9Rk2mQwXy7Z" }
}

run "deploy" {
  command = apply
  module {
    source = "./spot"
  }

  # Every node a one-time spot instance, the bastion not.
  assert {
    condition     = alltrue([for i in [@{nodes-a/az-a-node-0}, @{nodes-a/az-a-node-1}, @{nodes-c/az-c-node-0}] : i.instance_market_options[0].market_type == "spot" && i.instance_market_options[0].spot_options[0].spot_instance_type == "one-time"])
    error_message = "a node is not a one-time spot instance"
  }
  assert {
    condition     = length(@{bastion/instance}.instance_market_options) == 0
    error_message = "the bastion is a spot instance"
  }

  # The template: one action, the spot interruption with PT2M, on the source node's ARN alone.
  # (target, action and stop_condition are sets of blocks: read with for expressions.)
  assert {
    condition     = [for t in @{spot-interruption/template}.target : [t.name, t.resource_type, t.selection_mode, [for arn in t.resource_arns : arn]]] == [["source", "aws:ec2:spot-instance", "ALL", ["arn:aws:ec2:us-west-2:123456789012:instance/i-0a30000000000000a"]]]
    error_message = "the experiment does not target the source node az-a-node-0, and it alone"
  }
  assert {
    condition     = [for a in @{spot-interruption/template}.action : [a.action_id, [for t in a.target : [t.key, t.value]]]] == [["aws:ec2:send-spot-instance-interruptions", [["SpotInstances", "source"]]]]
    error_message = "the experiment's one action is not a spot interruption of its source target"
  }
  assert {
    condition     = [for a in @{spot-interruption/template}.action : [for p in a.parameter : [p.key, p.value]]] == [[["durationBeforeInterruption", "PT2M"]]]
    error_message = "the interruption does not come with the two-minute notice (durationBeforeInterruption PT2M)"
  }
  assert {
    condition     = [for c in @{spot-interruption/template}.stop_condition : c.source] == ["none"]
    error_message = "the experiment has a stop condition other than none"
  }

  # The role: only FIS assumes it; it may interrupt the source node and describe instances, nothing else.
  assert {
    condition     = @{spot-interruption/template}.role_arn == "arn:aws:iam::123456789012:role/criu-lab-spot-fis" && @{spot-interruption/role}.name == "criu-lab-spot-fis"
    error_message = "the experiment does not run as the stack's FIS role"
  }
  assert {
    condition     = jsondecode(@{spot-interruption/role}.assume_role_policy).Statement == [{ Effect = "Allow", Principal = { Service = "fis.amazonaws.com" }, Action = "sts:AssumeRole" }]
    error_message = "someone besides fis.amazonaws.com may assume the FIS role"
  }
  assert {
    condition     = @{spot-interruption/policy}.role == @{spot-interruption/role}.id && [for s in jsondecode(@{spot-interruption/policy}.policy).Statement : [s.Action, s.Resource]] == [[["ec2:SendSpotInstanceInterruptions"], ["arn:aws:ec2:us-west-2:123456789012:instance/i-0a30000000000000a"]], [["ec2:DescribeInstances"], ["*"]]]
    error_message = "the FIS role may do more than interrupt the source node and describe instances"
  }

  # The outputs watch --fis finds it by (servers.yaml aws.fis_template_id).
  assert {
    condition     = @{outputs/fis_template_id} == "EXT3a9Rk2mQwXy7Z" && @{outputs/fis_role_arn} == "arn:aws:iam::123456789012:role/criu-lab-spot-fis"
    error_message = "the outputs do not carry the FIS template id and role"
  }
  assert {
    condition     = @{outputs/nodes}[0].name == "az-a-node-0" && @{outputs/nodes}[0].instance_id == "i-0a30000000000000a"
    error_message = "the node the template interrupts is not the first node of the outputs, the source servers.yaml names"
  }
}

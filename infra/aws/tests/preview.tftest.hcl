# The preview: what `cdktf synth` / `criu-lab infra synth` make in a fresh clone without
# config/infra.yaml, from config/infra.example.yaml with a placeholder operator CIDR (192.0.2.1/32,
# a documentation address) and a key nobody holds. Its guard variable preview_only must fail any
# plan, so the placeholders can never be deployed. Synthesized into ./preview; @{path}
# placeholders as in default.tftest.hcl.

mock_provider "aws" {}

run "plan_is_refused" {
  command = plan
  module {
    source = "./preview"
  }
  expect_failures = [var.preview_only]
}

# With the guard switched off by hand, the same plan goes through: the guard is what refuses it,
# and the placeholder CIDR it protects is the bastion's SSH rule.
run "guard_is_what_refuses" {
  command = plan
  module {
    source = "./preview"
  }
  variables {
    preview_only = false
  }
  assert {
    condition     = @{security-groups/bastion-ssh-from-operator}.cidr_ipv4 == "192.0.2.1/32"
    error_message = "the preview's bastion SSH rule does not carry the placeholder operator CIDR 192.0.2.1/32"
  }
}

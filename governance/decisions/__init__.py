"""What the committee decides on the evidence: the risk register, sign-offs and the release gate."""

"""Trust before copy: containers-policy.json(5) policies, the identities they accept, and cosign signatures checked
against them. Pure logic over bytes: reading signatures from a store is the engine's part (sync.signature_gate)."""

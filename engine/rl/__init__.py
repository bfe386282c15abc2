"""Graph reinforcement learning that grows water clusters: environment, policy network, training."""

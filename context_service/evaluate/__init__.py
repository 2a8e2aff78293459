"""``evaluate``: does the gate add value? Gated vs ungated vs a random gate vs buy-and-hold."""

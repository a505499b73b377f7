"""The flow console: every exchange across the sandbox drawn as a journey, and the
ecosystem's scenarios played step by step (for trainers and for debugging).

It reads the other services' ``/_sandbox/exchanges`` over HTTP, like any client would.
"""

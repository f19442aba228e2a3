"""Pure RADIUS protocol code: no sockets, no asyncio, no clocks."""

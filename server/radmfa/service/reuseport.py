"""Spread one NAS's packets over the worker processes by RADIUS Identifier.

SO_REUSEPORT alone hashes on the 4-tuple, and a VPN concentrator sends from
one source port, so every packet from it would reach the same worker. A
classic BPF program attached to the reuseport group picks the socket from
the Identifier octet instead (the program sees the UDP payload): load byte 1,
modulo the number of workers. A retransmission carries the same Identifier
and so reaches the worker holding its duplicate-cache entry; challenge
sessions, replay guards and everything else shared live in the store.
"""

from __future__ import annotations

import ctypes
import socket
import struct

SO_ATTACH_REUSEPORT_CBPF = 51  # linux/asm-generic/socket.h

# struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }
_BPF_LD_B_ABS = 0x30  # BPF_LD | BPF_B | BPF_ABS
_BPF_ALU_MOD_K = 0x94  # BPF_ALU | BPF_MOD | BPF_K
_BPF_RET_A = 0x16  # BPF_RET | BPF_A


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


def identifier_program(workers: int) -> list[tuple[int, int, int, int]]:
    """(code, jt, jf, k) instructions: return payload[1] % workers."""
    return [(_BPF_LD_B_ABS, 0, 0, 1), (_BPF_ALU_MOD_K, 0, 0, workers), (_BPF_RET_A, 0, 0, 0)]


def attach_identifier_steering(sock: socket.socket, workers: int) -> bool:
    """Attach the program to ``sock``'s reuseport group; False if the kernel refuses."""
    program = identifier_program(workers)
    filters = (_SockFilter * len(program))(*(_SockFilter(*insn) for insn in program))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; } (padded to 16 on 64-bit)
    fprog = struct.pack("HL", len(program), ctypes.addressof(filters)) if struct.calcsize("P") == 8 else b""
    if not fprog:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
    except OSError:
        return False
    return True

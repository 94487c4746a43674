using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Warren.Edge.Hosting;

/// <summary>
/// The few Linux calls .NET has no API for, used by an edge upgrade (docs/operations.md, "Upgrading the edge without
/// refusing anyone"): <c>sendmsg</c>/<c>recvmsg</c> with <c>SCM_RIGHTS</c> to pass a listening socket's descriptor to
/// another process over a unix socket (unix(7)), <c>dup2</c> to let go of a shared socket without closing it for the
/// other process, and <c>geteuid</c> to check who connects. Layouts are those of Linux's LP64 ABI (x64 and arm64; musl's
/// padded fields read the same on little-endian). Called only at start and at a handover, never on the request path.
/// </summary>
internal static unsafe partial class SocketPassing
{
    private const int SolSocket = 1;
    private const int ScmRights = 1;
    private const int MsgCtrunc = 0x8;
    private const int MsgCmsgCloexec = 0x40000000;
    private const int EINTR = 4;
    private const int EAGAIN = 11;

    /// <summary>sizeof(struct cmsghdr) on LP64: size_t cmsg_len, int cmsg_level, int cmsg_type.</summary>
    private const int CmsgHeader = 16;

    /// <summary>CMSG_SPACE(sizeof(int)): the header and one descriptor, padded to 8 bytes.</summary>
    private const int CmsgSpaceOneFd = 24;

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsg(int socket, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint RecvMsg(int socket, MsgHdr* message, int flags);

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static partial int Dup2(int oldFd, int newFd);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    /// <summary>The effective user of this process (a peer of the control socket must be the same, or root).</summary>
    public static uint EffectiveUser => GetEuid();

    /// <summary>Sends one message of <paramref name="payload"/> over a SOCK_SEQPACKET unix socket, with <paramref name="descriptor"/> attached when not -1.</summary>
    public static void Send(Socket unix, ReadOnlySpan<byte> payload, int descriptor)
    {
        var control = stackalloc byte[CmsgSpaceOneFd];
        new Span<byte>(control, CmsgSpaceOneFd).Clear();
        *(nuint*)control = CmsgHeader + sizeof(int);
        *(int*)(control + 8) = SolSocket;
        *(int*)(control + 12) = ScmRights;
        *(int*)(control + CmsgHeader) = descriptor;
        fixed (byte* data = payload)
        {
            var iov = new IoVec { Base = data, Length = (nuint)payload.Length };
            var message = new MsgHdr { Iov = &iov, IovLength = 1 };
            if (descriptor >= 0)
            {
                message.Control = control;
                message.ControlLength = CmsgSpaceOneFd;
            }
            while (true)
            {
                if (SendMsg(Descriptor(unix), &message, 0) >= 0)
                {
                    return;
                }
                var error = Marshal.GetLastPInvokeError();
                if (error == EAGAIN)
                {
                    unix.Poll(-1, SelectMode.SelectWrite);
                }
                else if (error != EINTR)
                {
                    throw new SocketException(error);
                }
            }
        }
    }

    /// <summary>
    /// Receives one message into <paramref name="buffer"/>: its length (0 when the peer closed) and the descriptor it
    /// carried (-1 when none), opened close-on-exec.
    /// </summary>
    public static (int Length, int Descriptor) Receive(Socket unix, Span<byte> buffer)
    {
        var control = stackalloc byte[CmsgSpaceOneFd];
        new Span<byte>(control, CmsgSpaceOneFd).Clear();
        fixed (byte* data = buffer)
        {
            var iov = new IoVec { Base = data, Length = (nuint)buffer.Length };
            var message = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = CmsgSpaceOneFd };
            nint received;
            while ((received = RecvMsg(Descriptor(unix), &message, MsgCmsgCloexec)) < 0)
            {
                var error = Marshal.GetLastPInvokeError();
                if (error == EAGAIN)
                {
                    unix.Poll(-1, SelectMode.SelectRead);
                }
                else if (error != EINTR)
                {
                    throw new SocketException(error);
                }
            }
            if ((message.Flags & MsgCtrunc) != 0)
            {
                throw new IOException("a handover message carried more descriptors than one");
            }
            var descriptor = message.ControlLength >= CmsgHeader + sizeof(int) && *(int*)(control + 8) == SolSocket && *(int*)(control + 12) == ScmRights
                ? *(int*)(control + CmsgHeader)
                : -1;
            return ((int)received, descriptor);
        }
    }

    /// <summary>
    /// Makes <paramref name="socket"/>'s descriptor refer to a new, unconnected socket, so that closing it later (as
    /// Kestrel and the listeners do) does nothing to the listening socket it referred to, which another process
    /// still accepts on. Closing it directly would not be enough: .NET's close of a socket with an accept pending is
    /// abortive and sets SO_LINGER 0 on the shared socket, which every connection the other process accepts from it
    /// afterwards would inherit (its closes would become resets).
    /// </summary>
    public static void Detach(Socket socket)
    {
        using var placeholder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (Dup2(Descriptor(placeholder), Descriptor(socket)) < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
    }

    private static int Descriptor(Socket socket) => (int)socket.SafeHandle.DangerousGetHandle();
}

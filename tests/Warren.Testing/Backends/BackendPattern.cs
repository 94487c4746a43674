using System.Net.Sockets;

namespace Warren.Testing.Backends;

/// <summary>The sample backend's /bytes content (byte i = i mod 251), produced from any offset.</summary>
internal static class BackendPattern
{
    public static void Fill(Span<byte> buffer, long offset)
    {
        var next = (int)(offset % 251);
        for (var i = 0; i < buffer.Length; i++)
        {
            buffer[i] = (byte)next;
            next = next == 250 ? 0 : next + 1;
        }
    }

    /// <summary>Sends <paramref name="count"/> pattern bytes starting at pattern offset <paramref name="offset"/>.</summary>
    public static async Task SendAsync(Socket socket, long offset, long count, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        for (long sent = 0; sent < count;)
        {
            var n = (int)Math.Min(buffer.Length, count - sent);
            Fill(buffer.AsSpan(0, n), offset + sent);
            await socket.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            sent += n;
        }
    }
}

using System.Text;

namespace Warren.Edge.Telemetry;

/// <summary>A log line from its builder to UTF-8 bytes and a newline, in a buffer that grows when a line needs it.</summary>
internal static class Utf8Line
{
    /// <summary>Encodes <paramref name="line"/> and '\n' into <paramref name="buffer"/> (replaced by a larger one if needed); returns the byte count.</summary>
    public static int Encode(StringBuilder line, ref byte[] buffer)
    {
        var length = Encoding.UTF8.GetMaxByteCount(line.Length) + 1;
        if (buffer.Length < length)
        {
            buffer = new byte[Math.Max(length, buffer.Length * 2)];
        }
        var count = 0;
        foreach (var chunk in line.GetChunks())
        {
            count += Encoding.UTF8.GetBytes(chunk.Span, buffer.AsSpan(count));
        }
        buffer[count++] = (byte)'\n';
        return count;
    }
}

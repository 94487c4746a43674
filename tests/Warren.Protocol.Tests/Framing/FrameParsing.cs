using System.Buffers;
using Warren.Protocol.Framing;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Framing;

/// <summary>Ways of feeding bytes to <see cref="FrameReader"/>, the way a transport might deliver them.</summary>
internal static class FrameParsing
{
    /// <summary>Parses every whole frame in <paramref name="buffer"/>; returns them and what was left over.</summary>
    public static List<RawFrame> ParseAll(ReadOnlySequence<byte> buffer, out long leftOver, FrameLimits? limits = null)
    {
        var frames = new List<RawFrame>();
        var l = limits ?? FrameSpec.Limits;
        while (FrameReader.TryReadFrame(ref buffer, l, out var header, out var payload))
        {
            frames.Add(RawFrame.From(header, payload));
        }
        leftOver = buffer.Length;
        return frames;
    }

    /// <summary>
    /// Feeds <paramref name="bytes"/> one byte at a time, as a pipe reader would see them: after each byte the reader
    /// gets everything unconsumed so far, as one segment per byte.
    /// </summary>
    public static List<RawFrame> ParseTrickled(byte[] bytes)
    {
        var frames = new List<RawFrame>();
        var consumed = 0;
        for (var end = 1; end <= bytes.Length; end++)
        {
            var buffer = SegmentedSequence.Split(bytes[consumed..end], Enumerable.Range(1, Math.Max(0, end - consumed - 1)));
            var before = buffer.Length;
            while (FrameReader.TryReadFrame(ref buffer, FrameSpec.Limits, out var header, out var payload))
            {
                frames.Add(RawFrame.From(header, payload));
            }
            consumed += (int)(before - buffer.Length);
        }
        Assert.Equal(bytes.Length, consumed);
        return frames;
    }
}

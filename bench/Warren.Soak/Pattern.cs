using System.Buffers;
using System.Buffers.Binary;

namespace Warren.Soak;

/// <summary>
/// Position-addressable test bytes: byte <c>i</c> of stream <c>seed</c> depends on both, so a dropped, repeated,
/// shifted or foreign chunk fails verification wherever it lands (a repeating pattern would let aligned shifts pass).
/// </summary>
internal static class Pattern
{
    public static void Fill(ulong seed, long offset, Span<byte> destination)
    {
        var i = 0;
        for (; i < destination.Length && ((offset + i) & 7) != 0; i++)
        {
            destination[i] = ByteAt(seed, offset + i);
        }
        for (; destination.Length - i >= 8; i += 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination[i..], Word(seed, (offset + i) >> 3));
        }
        for (; i < destination.Length; i++)
        {
            destination[i] = ByteAt(seed, offset + i);
        }
    }

    /// <summary>The stream offset of the first byte of <paramref name="data"/> that is wrong, or -1.</summary>
    public static long FirstMismatch(ulong seed, long offset, ReadOnlySpan<byte> data)
    {
        var expected = ArrayPool<byte>.Shared.Rent(data.Length);
        try
        {
            Fill(seed, offset, expected.AsSpan(0, data.Length));
            var same = data.CommonPrefixLength(expected.AsSpan(0, data.Length));
            return same == data.Length ? -1 : offset + same;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(expected);
        }
    }

    private static byte ByteAt(ulong seed, long position) => (byte)(Word(seed, position >> 3) >> (int)((position & 7) * 8));

    // splitmix64 of (seed, block).
    private static ulong Word(ulong seed, long block)
    {
        var z = seed + ((ulong)block + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>A read-only stream of <see cref="Pattern"/> bytes, for uploads of any size without a buffer that size.</summary>
internal sealed class PatternStream(ulong seed, long length) : Stream
{
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = (int)Math.Min(buffer.Length, length - _position);
        Pattern.Fill(seed, _position, buffer[..n]);
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

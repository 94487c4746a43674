using System.Buffers;
using BenchmarkDotNet.Attributes;
using Warren.Protocol.Framing;
using Warren.Protocol.Tests.Support;

namespace Warren.Benchmarks;

/// <summary>
/// The codec alone (Kestrel Http2FrameWriterBenchmark): encoding DATA into a reused buffer writer, and decoding
/// 64 frames from one contiguous segment or from 4 KiB segments as a socket delivers them. Both must allocate 0 B.
/// </summary>
public class FramingBenchmarks
{
    private const int Frames = 64;
    private readonly ArrayBufferWriter<byte> _writer = new(1024 * 1024);
    private byte[] _payload = [];
    private ReadOnlySequence<byte> _single;
    private ReadOnlySequence<byte> _segmented;
    private static readonly FrameLimits Limits = new(FrameWriter.Version1, 65_535, 1024);

    [Params(64, 16 * 1024)]
    public int PayloadSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[PayloadSize];
        Random.Shared.NextBytes(_payload);
        var writer = new ArrayBufferWriter<byte>();
        for (var i = 0; i < Frames; i++)
        {
            FrameWriter.WriteData(writer, FrameWriter.Version1, (uint)(2 * i) + 1, _payload, fin: false);
        }
        var bytes = writer.WrittenSpan.ToArray();
        _single = new ReadOnlySequence<byte>(bytes);
        _segmented = SegmentedSequence.Split(bytes, Enumerable.Range(1, (bytes.Length - 1) / 4096).Select(i => i * 4096));
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public int WriteData()
    {
        _writer.ResetWrittenCount();
        for (var i = 0; i < Frames; i++)
        {
            FrameWriter.WriteData(_writer, FrameWriter.Version1, 1, _payload, fin: false);
        }
        return _writer.WrittenCount;
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public long ReadSingleSegment() => ReadAll(_single);

    [Benchmark(OperationsPerInvoke = Frames)]
    public long ReadMultiSegment() => ReadAll(_segmented);

    private static long ReadAll(ReadOnlySequence<byte> buffer)
    {
        long total = 0;
        while (FrameReader.TryReadFrame(ref buffer, Limits, out var header, out var payload))
        {
            total += header.StreamId + payload.Length;
        }
        return total;
    }
}

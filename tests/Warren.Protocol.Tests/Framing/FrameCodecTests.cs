using System.Buffers;
using CsCheck;
using Warren.Protocol.Framing;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Framing;

/// <summary>Property tests of <see cref="FrameWriter"/> and <see cref="FrameReader"/> (RELIABILITY.md (a) A1, A2, F1).</summary>
public sealed class FrameCodecTests
{
    private static readonly Gen<FrameSpec[]> SmallSequences = FrameSpec.Any(maxData: 300).Array[1, 6];

    [Fact]
    public void Frame_AnyTypeWrittenThenRead_RoundTrips()
    {
        FrameSpec.Any().Sample(spec =>
        {
            var bytes = FrameSpec.Encode([spec]);
            var frames = FrameParsing.ParseAll(new ReadOnlySequence<byte>(bytes), out var leftOver);
            Assert.Equal(0, leftOver);
            Assert.Equal([spec.Expected], frames);
        }, iter: 2000);
    }

    [Fact]
    public void FrameSequence_FedOneByteAtATime_ParsesIdentically()
    {
        SmallSequences.Sample(specs =>
        {
            var bytes = FrameSpec.Encode(specs);
            Assert.Equal(specs.Select(s => s.Expected), FrameParsing.ParseTrickled(bytes));
        }, iter: 200);
    }

    [Fact]
    public void FrameSequence_SplitAtEveryOffset_ParsesIdentically()
    {
        SmallSequences.Sample(specs =>
        {
            var bytes = FrameSpec.Encode(specs);
            var expected = specs.Select(s => s.Expected).ToList();
            for (var cut = 0; cut <= bytes.Length; cut++)
            {
                var frames = FrameParsing.ParseAll(SegmentedSequence.Split(bytes, [cut]), out var leftOver);
                Assert.Equal(0, leftOver);
                Assert.Equal(expected, frames);
            }
        }, iter: 200);
    }

    [Fact]
    public void FrameSequence_RandomSegments_ParsesIdentically()
    {
        Gen.Select(FrameSpec.Any().Array[1, 8], Gen.Int.Array[0, 40]).Sample((specs, cutSeeds) =>
        {
            var bytes = FrameSpec.Encode(specs);
            var cuts = cutSeeds.Select(c => (int)((uint)c % (bytes.Length + 1))).Order();
            var frames = FrameParsing.ParseAll(SegmentedSequence.Split(bytes, cuts), out var leftOver);
            Assert.Equal(0, leftOver);
            Assert.Equal(specs.Select(s => s.Expected), frames);
        }, iter: 500);
    }

    [Fact]
    public void FrameSequence_TruncatedAnywhere_ReturnsWholeFramesAndKeepsTheRest()
    {
        SmallSequences.Sample(specs =>
        {
            var bytes = FrameSpec.Encode(specs);
            for (var length = 0; length < bytes.Length; length++)
            {
                var frames = FrameParsing.ParseAll(new ReadOnlySequence<byte>(bytes, 0, length), out var leftOver);
                var used = FrameSpec.Encode(specs.Take(frames.Count)).Length;
                Assert.Equal(length - used, leftOver);
                Assert.True(leftOver < FrameSpec.Encode(specs.Skip(frames.Count).Take(1)).Length);
            }
        }, iter: 100);
    }

    [Fact]
    public void Reader_RandomBytes_ThrowsOnlyProtocolException()
    {
        // Half the inputs start with a valid version byte and a plausible type, so they get past the first check.
        var plausible = Gen.Select(Gen.Byte[0, 9], Gen.Byte.Array[0, 300], (type, rest) => (byte[])[FrameWriter.Version1, type, .. rest]);
        Gen.Select(Gen.OneOf(Gen.Byte.Array[0, 300], plausible), Gen.Int[0, 300]).Sample((bytes, cut) =>
        {
            AssertOnlyProtocolException(new ReadOnlySequence<byte>(bytes));
            AssertOnlyProtocolException(SegmentedSequence.Split(bytes, [Math.Min(cut, bytes.Length)]));
        }, iter: 5000);
    }

    [Fact]
    public void Reader_RandomHeaderFields_ThrowsOnlyProtocolException()
    {
        // Any header (type, flags, id, length) in front of a valid frame's payload: accepted or ProtocolException.
        Gen.Select(Gen.Byte[0, 12], Gen.UShort, Gen.UInt[0, 4], Gen.UInt[0, 70_000], Gen.Byte.Array[0, 64]).Sample((type, flags, id, length, payload) =>
        {
            var bytes = new byte[FrameHeader.Size + payload.Length];
            new FrameHeader(FrameWriter.Version1, (FrameType)type, (FrameFlags)flags, id, length).Write(bytes);
            payload.CopyTo(bytes, FrameHeader.Size);
            AssertOnlyProtocolException(new ReadOnlySequence<byte>(bytes));
        }, iter: 5000);
    }

    [Fact]
    public void Reader_OversizedDataHeaderAlone_ThrowsFrameSizeErrorBeforeThePayloadArrives()
    {
        var header = new byte[FrameHeader.Size];
        new FrameHeader(FrameWriter.Version1, FrameType.Data, FrameFlags.None, 1, (uint)FrameSpec.Limits.MaxFramePayload + 1).Write(header);
        var buffer = new ReadOnlySequence<byte>(header);
        var ex = Assert.Throws<ProtocolException>(() => FrameReader.TryReadFrame(ref buffer, FrameSpec.Limits, out _, out _));
        Assert.Equal(ErrorCode.FrameSizeError, ex.Code);
    }

    [Fact]
    public void Reader_HugeDeclaredLength_ThrowsWithoutAllocating()
    {
        var header = new byte[FrameHeader.Size];
        new FrameHeader(FrameWriter.Version1, FrameType.Open, FrameFlags.None, 1, uint.MaxValue).Write(header);
        var buffer = new ReadOnlySequence<byte>(header);
        var ex = Assert.Throws<ProtocolException>(() => FrameReader.TryReadFrame(ref buffer, FrameSpec.Limits, out _, out _));
        Assert.Equal(ErrorCode.FrameSizeError, ex.Code);
    }

    [Fact]
    public void Reader_PartialFrame_ReturnsFalseAndLeavesTheBuffer()
    {
        var bytes = FrameSpec.Encode([new FrameSpec(FrameType.Data, FrameFlags.Fin, 7, new byte[100])]);
        var buffer = new ReadOnlySequence<byte>(bytes, 0, bytes.Length - 1);
        var before = buffer;
        Assert.False(FrameReader.TryReadFrame(ref buffer, FrameSpec.Limits, out _, out _));
        Assert.Equal(before, buffer);
    }

    [Theory]
    [InlineData(FrameType.Ping, 0u, 7u)]
    [InlineData(FrameType.Ping, 0u, 9u)]
    [InlineData(FrameType.WindowUpdate, 1u, 3u)]
    [InlineData(FrameType.WindowUpdate, 1u, 5u)]
    [InlineData(FrameType.Reset, 1u, 0u)]
    [InlineData(FrameType.Reset, 1u, 8u)]
    [InlineData(FrameType.Accept, 1u, 1u)]
    [InlineData(FrameType.GoAway, 0u, 7u)]
    [InlineData(FrameType.GoAway, 0u, 8u + FrameLimits.MaxGoAwayReason + 1)]
    [InlineData(FrameType.Hello, 0u, 8u)]
    [InlineData(FrameType.Hello, 0u, Hello.MaxPayloadLength + 1u)]
    public void Validate_WrongLength_ThrowsFrameSizeError(FrameType type, uint streamId, uint length)
    {
        var ex = Assert.Throws<ProtocolException>(() => FrameReader.Validate(new FrameHeader(FrameWriter.Version1, type, FrameFlags.None, streamId, length), FrameSpec.Limits));
        Assert.Equal(ErrorCode.FrameSizeError, ex.Code);
    }

    [Theory]
    [InlineData(FrameType.Open, 0u)]
    [InlineData(FrameType.Data, 0u)]
    [InlineData(FrameType.WindowUpdate, 0u)]
    [InlineData(FrameType.Reset, 0u)]
    [InlineData(FrameType.Accept, 0u)]
    [InlineData(FrameType.Ping, 1u)]
    [InlineData(FrameType.GoAway, 2u)]
    [InlineData(FrameType.Hello, 3u)]
    public void Validate_FrameOnWrongStreamKind_ThrowsProtocolError(FrameType type, uint streamId)
    {
        var length = type switch { FrameType.Ping => 8u, FrameType.GoAway => 8u, FrameType.Hello => 9u, FrameType.WindowUpdate or FrameType.Reset => 4u, _ => 0u };
        var ex = Assert.Throws<ProtocolException>(() => FrameReader.Validate(new FrameHeader(FrameWriter.Version1, type, FrameFlags.None, streamId, length), FrameSpec.Limits));
        Assert.Equal(ErrorCode.ProtocolError, ex.Code);
    }

    [Fact]
    public void Validate_UnknownTypeOrVersion_ThrowsTheirCodes()
    {
        Assert.Equal(ErrorCode.ProtocolError, Assert.Throws<ProtocolException>(() => FrameReader.Validate(new FrameHeader(1, (FrameType)8, 0, 0, 0), FrameSpec.Limits)).Code);
        Assert.Equal(ErrorCode.UnsupportedVersion, Assert.Throws<ProtocolException>(() => FrameReader.Validate(new FrameHeader(2, FrameType.Ping, 0, 0, 8), FrameSpec.Limits)).Code);
    }

    private static void AssertOnlyProtocolException(ReadOnlySequence<byte> buffer)
    {
        try
        {
            while (FrameReader.TryReadFrame(ref buffer, FrameSpec.Limits, out _, out var payload))
            {
                _ = payload.Length;
            }
        }
        catch (ProtocolException)
        {
        }
    }
}

using System.Buffers.Binary;
using CsCheck;
using Warren.Protocol.Framing;

namespace Warren.Protocol.Tests.Framing;

public sealed class HelloTests
{
    private static byte[] Encode(Hello hello)
    {
        var bytes = new byte[Hello.PayloadLength];
        hello.Write(bytes);
        return bytes;
    }

    /// <summary>A HELLO payload with the given versions and settings, written by hand.</summary>
    private static byte[] Handmade(byte min, byte max, params (ushort Id, uint Value)[] settings)
    {
        var bytes = new byte[9 + (6 * settings.Length)];
        "WARREN"u8.CopyTo(bytes);
        bytes[6] = min;
        bytes[7] = max;
        bytes[8] = (byte)settings.Length;
        for (var i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(9 + (6 * i)), settings[i].Id);
            BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(11 + (6 * i)), settings[i].Value);
        }
        return bytes;
    }

    [Fact]
    public void Hello_AnyValidValues_RoundTrips()
    {
        FrameSpec.Hellos.Sample(hello => Assert.Equal(hello, Hello.Parse(Encode(hello))), iter: 2000);
    }

    [Fact]
    public void Hello_RandomBytes_ThrowsOnlyProtocolException()
    {
        var plausible = Gen.Select(Gen.Byte, Gen.Byte, Gen.Byte[0, 20], Gen.Byte.Array[0, 120], (min, max, count, rest) => (byte[])[.. "WARREN"u8, min, max, count, .. rest]);
        Gen.OneOf(Gen.Byte.Array[0, 120], plausible).Sample(bytes =>
        {
            try
            {
                Hello.Parse(bytes);
            }
            catch (ProtocolException)
            {
            }
        }, iter: 5000);
    }

    [Fact]
    public void Hello_NoSettings_KeepsProtocolDefaults()
    {
        var hello = Hello.Parse(Handmade(1, 1));
        Assert.Equal(SessionSettings.ProtocolDefaults, hello.Settings);
    }

    [Fact]
    public void Hello_UnknownSettingId_IsIgnored()
    {
        var hello = Hello.Parse(Handmade(1, 3, (0x99, 12345), (0x1, 32 * 1024)));
        Assert.Equal(SessionSettings.ProtocolDefaults with { MaxFramePayload = 32 * 1024 }, hello.Settings);
        Assert.Equal((1, 3), (hello.MinVersion, hello.MaxVersion));
    }

    [Fact]
    public void Hello_BadMagic_ThrowsProtocolError()
    {
        var bytes = Encode(new Hello(1, 1, SessionSettings.ProtocolDefaults));
        bytes[0] = (byte)'X';
        Assert.Equal(ErrorCode.ProtocolError, Assert.Throws<ProtocolException>(() => Hello.Parse(bytes)).Code);
        Assert.Equal(ErrorCode.ProtocolError, Assert.Throws<ProtocolException>(() => Hello.Parse("WARRE"u8)).Code);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(0, 0)]
    [InlineData(3, 2)]
    public void Hello_InvalidVersionRange_ThrowsProtocolError(byte min, byte max)
    {
        Assert.Equal(ErrorCode.ProtocolError, Assert.Throws<ProtocolException>(() => Hello.Parse(Handmade(min, max))).Code);
    }

    [Fact]
    public void Hello_CountDisagreesWithLength_ThrowsFrameSizeError()
    {
        var bytes = Handmade(1, 1, (1, 16384));
        Assert.Equal(ErrorCode.FrameSizeError, Assert.Throws<ProtocolException>(() => Hello.Parse(bytes.AsSpan(0, bytes.Length - 1))).Code);
        bytes[8] = 2;
        Assert.Equal(ErrorCode.FrameSizeError, Assert.Throws<ProtocolException>(() => Hello.Parse(bytes)).Code);
        var tooMany = Handmade(1, 1, [.. Enumerable.Repeat(((ushort)0x99, 0u), Hello.MaxSettings + 1)]);
        Assert.Equal(ErrorCode.FrameSizeError, Assert.Throws<ProtocolException>(() => Hello.Parse(tooMany)).Code);
    }

    [Theory]
    [InlineData(1, SessionSettings.MinFramePayload - 1)]
    [InlineData(1, SessionSettings.MaxFramePayloadLimit + 1)]
    [InlineData(2, SessionSettings.MinStreamWindow - 1)]
    [InlineData(2, (uint)int.MaxValue + 1)]
    [InlineData(3, 0)]
    [InlineData(3, (uint)int.MaxValue + 1)]
    [InlineData(4, SessionSettings.MinOpenMetadata - 1)]
    [InlineData(4, SessionSettings.MaxOpenMetadataLimit + 1)]
    public void Hello_SettingOutOfRange_ThrowsProtocolError(ushort id, uint value)
    {
        Assert.Equal(ErrorCode.ProtocolError, Assert.Throws<ProtocolException>(() => Hello.Parse(Handmade(1, 1, (id, value)))).Code);
    }
}

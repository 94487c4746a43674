using System.Buffers.Binary;
using System.Text;
using Warren.Protocol.Framing;
using Warren.Protocol.Tunnel;

namespace Warren.Protocol.Tests.Tunnel;

public sealed class ControlChannelTests
{
    // Each left a null where the types promise none, and the edge's or the agent's control loop failed with a
    // NullReferenceException instead of a protocol error (fuzz/crashes/control).
    [Theory]
    [InlineData("""{"type":"register","services":[null]}""")]
    [InlineData("""{"type":"register","services":[{"name":null,"kind":"http","hostnames":["a.test"]}]}""")]
    [InlineData("""{"type":"register","services":[{"name":"a","kind":null,"hostnames":["a.test"]}]}""")]
    [InlineData("""{"type":"register","services":[{"name":"a","hostnames":null}]}""")]
    [InlineData("""{"type":"register","services":[{"name":"a","kind":"tcp","port":22}]}""")]
    [InlineData("""{"type":"register","services":[{"name":"a","hostnames":["a.test"]}]}""")]
    [InlineData("""{"type":"register","services":[{"name":"a","hostnames":[null]}]}""")]
    [InlineData("""{"type":"register_result","results":[null]}""")]
    [InlineData("""{"type":"register_result","results":[{"name":null,"ok":true}]}""")]
    public async Task A_null_where_the_message_type_promises_a_value_is_a_protocol_error(string json)
    {
        var channel = new ControlChannel(new MemoryStream(Frame(json)));

        var error = await Assert.ThrowsAsync<ProtocolException>(() => channel.ReceiveAsync(CancellationToken.None).AsTask());

        Assert.Equal(ErrorCode.ProtocolError, error.Code);
        Assert.Contains("missing or null", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Optional_fields_may_be_null_or_absent()
    {
        var json = """{"type":"register","services":[{"name":"a","kind":"http","hostnames":["a.test"],"path_prefix":null,"port":null}]}""";
        var channel = new ControlChannel(new MemoryStream(Frame(json)));

        var message = await channel.ReceiveAsync(CancellationToken.None);

        var service = Assert.Single(message!.Services!);
        Assert.Equal(("a", "http", "a.test"), (service.Name, service.Kind, Assert.Single(service.Hostnames)));
    }

    private static byte[] Frame(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame, 4);
        return frame;
    }
}

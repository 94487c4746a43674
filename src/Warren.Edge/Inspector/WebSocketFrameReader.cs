namespace Warren.Edge.Inspector;

/// <summary>
/// Follows the WebSocket frames going one way through an upgraded connection and reports each message: its type,
/// size and time (RFC 6455 §5.2). It reads only the frame headers (2 to 14 bytes) and skips payloads without
/// copying them, one call per chunk as the bytes pass, whatever the chunk boundaries. No library watches a
/// WebSocket passively (System.Net.WebSockets owns its connection), hence this small state machine.
/// </summary>
internal sealed class WebSocketFrameReader(Action<string, long> onMessage)
{
    private readonly byte[] _header = new byte[14];
    private int _headerLength;
    private long _payloadLeft;
    private long _messageBytes;
    private int _messageOpcode = -1;
    private bool _broken;

    public void Feed(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty && !_broken)
        {
            if (_payloadLeft > 0)
            {
                var skip = (int)Math.Min(_payloadLeft, bytes.Length);
                _payloadLeft -= skip;
                bytes = bytes[skip..];
                if (_payloadLeft == 0)
                {
                    FrameEnded();
                }
                continue;
            }
            _header[_headerLength++] = bytes[0];
            bytes = bytes[1..];
            if (HeaderComplete(out var payload))
            {
                _payloadLeft = payload;
                _current = ((_header[0] & 0x80) != 0, _header[0] & 0x0F, payload);
                _headerLength = 0;
                if (payload == 0)
                {
                    FrameEnded();
                }
            }
        }
    }

    private (bool Fin, int Opcode, long Length) _current;

    private bool HeaderComplete(out long payload)
    {
        payload = 0;
        if (_headerLength < 2)
        {
            return false;
        }
        var masked = (_header[1] & 0x80) != 0;
        var length7 = _header[1] & 0x7F;
        var extended = length7 switch { 126 => 2, 127 => 8, _ => 0 };
        var needed = 2 + extended + (masked ? 4 : 0);
        if (_headerLength < needed)
        {
            return false;
        }
        payload = extended switch
        {
            2 => (_header[2] << 8) | _header[3],
            8 => (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2, 8)),
            _ => length7,
        };
        if (payload < 0)
        {
            _broken = true; // not a WebSocket after all (or a protocol error the endpoints will see): stop watching
            return false;
        }
        return true;
    }

    private void FrameEnded()
    {
        var (fin, opcode, length) = _current;
        if (opcode >= 8)
        {
            onMessage(Name(opcode), length); // control frames stand alone, even inside a fragmented message
            return;
        }
        if (opcode != 0)
        {
            _messageOpcode = opcode;
            _messageBytes = 0;
        }
        _messageBytes += length;
        if (fin)
        {
            onMessage(Name(_messageOpcode), _messageBytes);
            _messageOpcode = -1;
            _messageBytes = 0;
        }
    }

    private static string Name(int opcode) => opcode switch
    {
        1 => "text",
        2 => "binary",
        8 => "close",
        9 => "ping",
        10 => "pong",
        _ => "opcode " + opcode.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

using System.Net;

namespace Warren.Edge;

/// <summary>Turns "0.0.0.0:80", "[::]:443", "localhost:7443", "*:80" into an endpoint to listen on.</summary>
internal static class EndPointParser
{
    public static IPEndPoint Parse(string value)
    {
        var colon = value.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(value.AsSpan(colon + 1), out var port) || port is < 0 or > 65535)
        {
            throw new FormatException($"'{value}' is not host:port");
        }
        var host = value[..colon].Trim('[', ']');
        var address = host switch
        {
            "localhost" => IPAddress.Loopback,
            "*" or "" => IPAddress.Any,
            _ when IPAddress.TryParse(host, out var parsed) => parsed,
            _ => throw new FormatException($"'{host}' is not an IP address; listen addresses take an IP, '*' or 'localhost'"),
        };
        return new IPEndPoint(address, port);
    }
}

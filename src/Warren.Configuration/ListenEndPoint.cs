using System.Net;

namespace Warren.Configuration;

/// <summary>Turns a listen address ("0.0.0.0:80", "[::]:443", "localhost:7443", "*:80") into an endpoint: one parser for the edge's and the agent's listeners.</summary>
public static class ListenEndPoint
{
    public static IPEndPoint Parse(string value)
    {
        // "*:80" is accepted here too (all interfaces), on top of the configuration's host:port syntax.
        var text = value.StartsWith("*:", StringComparison.Ordinal) ? "0.0.0.0" + value[1..] : value;
        if (!ConfigFormats.TryParseHostPort(text, out var host, out var port))
        {
            throw new FormatException($"'{value}' is not host:port");
        }
        var address = host switch
        {
            "localhost" => IPAddress.Loopback,
            _ when IPAddress.TryParse(host, out var parsed) => parsed,
            _ => throw new FormatException($"'{host}' is not an IP address; listen addresses take an IP, '*' or 'localhost'"),
        };
        return new IPEndPoint(address, port);
    }
}

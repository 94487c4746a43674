using System.Text;
using System.Text.Json;

namespace Warren.Edge.Policy;

/// <summary>
/// The key two policies share an authentication scheme by: their settings as one JSON array of strings, string lists,
/// numbers and nulls. The OIDC login's cookie names are derived from its hash, so the bytes must stay what they were
/// when this was <c>JsonSerializer.Serialize(object?[])</c> (a test compares the two); written here with
/// <see cref="Utf8JsonWriter"/>, which needs no reflection.
/// </summary>
internal static class SchemeKey
{
    public static string Of(params object?[] parts)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var part in parts)
            {
                switch (part)
                {
                    case null:
                        json.WriteNullValue();
                        break;
                    case string text:
                        json.WriteStringValue(text);
                        break;
                    case long number:
                        json.WriteNumberValue(number);
                        break;
                    case IEnumerable<string> list:
                        json.WriteStartArray();
                        foreach (var item in list)
                        {
                            json.WriteStringValue(item);
                        }
                        json.WriteEndArray();
                        break;
                    default:
                        throw new ArgumentException($"a scheme key holds strings, string lists, numbers and nulls, not {part.GetType().Name}", nameof(parts));
                }
            }
            json.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}

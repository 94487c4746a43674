namespace Warren.Admin;

/// <summary>What frames every console page of one role: its name and its navigation (href, label).</summary>
internal sealed record ConsoleFrame(string Role, IReadOnlyList<(string Href, string Label)> Nav);

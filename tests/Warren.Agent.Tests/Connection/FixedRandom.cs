namespace Warren.Agent.Tests.Connection;

/// <summary>A source whose every draw is <paramref name="value"/> (a jitter as a fraction of its range).</summary>
internal sealed class FixedRandom(double value) : Random
{
    public override double NextDouble() => value;
}

namespace Warren.Net;

/// <summary>Which stream of a splice failed first: the one passed as <c>a</c>, the one passed as <c>b</c>, or neither.</summary>
internal enum SpliceSide
{
    None,
    A,
    B,
}

//! pingora's per-stream timing of waiting reads (vendored pingora-core, vendor/README.md): on
//! by default, and off for the whole process once an application says it never reads it.

use pingora::protocols::l4::stream::{set_pending_time_tracking, Stream};
use pingora::protocols::GetTimingDigest;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a read on a pingora stream was recorded as waiting, when its byte comes `after`
/// the read started.
async fn recorded_wait(after: Duration) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
    let mut stream = Stream::from(client.unwrap());
    let (mut server, _) = accepted.unwrap();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(after).await;
        server.write_all(b"x").await.unwrap();
        server
    });
    let mut byte = [0u8; 1];
    assert_eq!(stream.read(&mut byte).await.unwrap(), 1);
    drop(writer.await.unwrap());
    stream.get_read_pending_time()
}

/// One test for both settings: the switch is process-wide, and no other test reads the figure.
#[tokio::test]
async fn a_waiting_read_is_timed_unless_the_timing_is_off() {
    let wait = Duration::from_millis(40);
    assert!(
        recorded_wait(wait).await >= wait / 2,
        "on by default, the wait is recorded"
    );
    set_pending_time_tracking(false);
    let untimed = recorded_wait(wait).await;
    set_pending_time_tracking(true);
    assert_eq!(untimed, Duration::ZERO, "off, no clock is read");
    assert!(recorded_wait(wait).await >= wait / 2, "and on again");
}

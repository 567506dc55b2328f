/// An event loop can run Swift Tasks itself: a handler Task that prefers its connection's loop runs
/// on the thread that owns the socket, so a request costs no thread hop in either direction.
extension EventLoop: TaskExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        execute { job.runSynchronously(on: executor) }
    }
}
